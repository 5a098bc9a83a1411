#!/usr/bin/env python3
"""Prints the Markdown tables of docs/capture.md ("Fixtures") from the fixtures' manifests.
Usage: fixture-table.py samples/NAME [samples/NAME ...]"""
import json
import os
import sys

for d in sys.argv[1:]:
    m = json.load(open(os.path.join(d, 'manifest.json')))
    size = sum(f['bytes'] for f in m['files'])
    c = m['config']
    print(f"### {m['name']}\n")
    print(f"{c['description']}. {size / 1e6:.1f} MB in {len(m['files'])} files "
          f"(trace.dat {next(f['bytes'] for f in m['files'] if f['path'] == 'trace.dat')} bytes, "
          f"{sum(m['event_counts']['trace.txt'].values())} events in trace.txt).\n")
    print('| scenario | kind | finding | pfn | order | device | IOVA | size | page events while mapped |')
    print('|---|---|---|---|---|---|---|---|---|')
    for e in m['expected']:
        print(f"| {e['scenario']} | {e['kind']} | {'yes' if e['finding_expected'] else 'no'} | {e['pfn']} | {e['order']} | "
              f"{e['device']} | {e['iova']} | {e['size']} | {len(e['page_events_while_mapped'])} |")
    r = m['reference_check']
    print(f"\nReference check {r['mode']}: {r['page_events_hitting_live_mapping']} page events on live mappings, "
          f"{r['on_other_pfns']} outside the scenarios, {r['ambiguous_unmaps']} ambiguous unmaps.\n")
