#!/usr/bin/env python3
"""Turns one capture's raw guest output into a fixture folder with a ground-truth manifest.

Usage: make-manifest.py RAW_DIR FIXTURE_DIR NAME DESCRIPTION

RAW_DIR is what the guest wrote (capture/run-capture.sh: $OUT/NAME/raw). FIXTURE_DIR receives
trace.dat (v7, zstd, as recorded), trace-v6.dat.gz (trace-cmd convert --file-version 6, gzip -9),
trace.txt.gz (the tracefs text of the second instance, gzip -9), formats/, the kernel log, the
inventory and manifest.json. The manifest has the same shape as the shared captures' manifests:
expected findings come from the module's `iommu_scen: scenario=... expect=...` kernel log lines,
and every expectation is verified against the text trace by an independent per-page tracker
(live IOMMU mappings keyed by device and IOVA, or by kprobe domain pointer and IOVA).
"""
import collections
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

PAGE_SHIFT = 12

LINE = re.compile(r'^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?:\S+\s+)?(?P<ts>\d+\.\d+): (?P<event>[\w.]+): (?P<rest>.*)$')
KV = re.compile(r'(\w+)=("[^"]*"|\{[^}]*\}|\S+)')
MAP = re.compile(r'iova=0x([0-9a-f]+) - 0x([0-9a-f]+) paddr=0x([0-9a-f]+) size=(\d+)')
UNMAP = re.compile(r'iova=0x([0-9a-f]+) - 0x([0-9a-f]+) size=(\d+) unmapped_size=(\d+)')
TRUTH = re.compile(r'^\[\s*(?P<ts>\d+\.\d+)\] iommu_scen: (?P<body>scenario=\S+ expect=.*)$')

NOTES = {
    'page_uaf': 'alloc_page + dma_map_page(BIDIRECTIONAL) to the e1000e, __free_page without dma_unmap_page; the mapping stays live for the rest of the trace',
    'clean': 'alloc_page + dma_map_page to the e1000e, dma_unmap_page, then __free_page',
    'order2_inner': 'alloc_pages(order 2), dma_map_page of the second page only, __free_pages(order 2) while it is mapped, dma_unmap_page 20 ms later; mm_page_free names the block (block_pfn, order 2), the finding is the inner pfn',
    'sg_uaf': 'three alloc_page pages in one scatterlist, dma_map_sg (one contiguous IOVA range), all three pages freed while mapped, dma_unmap_sg 20 ms later (one iommu:unmap of the whole range)',
    'late_unmap': 'alloc_page + dma_map_page, __free_page, dma_unmap_page 20 ms later: the later unmap does not undo the free while mapped',
    'realloc_mapped': 'alloc_page + dma_map_page, __free_page and alloc_page again on the same CPU until the same pfn comes back, then dma_unmap_page and __free_page: the free and the re-allocation both happen while mapped',
    'kmalloc_uaf': 'kmalloc(512) + dma_map_single, kfree while mapped, dma_unmap_single 20 ms later: an object-level use-after-free, but the slab page is never freed, so no page-level finding',
    'mmio_resource': "dma_map_resource of the NVMe controller's BAR0 for the e1000e, then dma_unmap_resource: MMIO has no struct page and no page allocator events",
}

# What the per-page rule must report for each kind (see docs/capture.md).
FINDING_KINDS = {'leak': True, 'realloc': True, 'clean': False, 'subpage': False, 'no_page': False}


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def parse_stats(text):
    """per_cpu/cpuN/stats blocks ('== cpuN' headers) -> {cpuN: {key: value}}."""
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith('== '):
            cur = out.setdefault(line[3:].strip(), {})
        elif cur is not None and ':' in line:
            k, v = line.split(':', 1)
            cur[k.strip()] = v.strip()
    return out


def read_text_events(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            if line.startswith('#'):
                continue
            m = LINE.match(line)
            if m:
                yield m


def count_report_events(dat):
    """Event names in `trace-cmd report` output of a trace.dat, most frequent first."""
    counts = collections.Counter()
    proc = subprocess.run(['trace-cmd', 'report', '-i', dat], capture_output=True, text=True, errors='replace', check=True)
    for line in proc.stdout.splitlines():
        m = LINE.match(line)
        if m:
            counts[m['event']] += 1
    return dict(counts.most_common())


class Tracker:
    """Live IOMMU mappings per page: (owner, iova pfn) -> paddr pfn, owner = device or domain.

    Tracepoint mode: an iommu:map/unmap carries no owner, so it takes the device of the dma:*
    event that accompanies it on the same CPU (dma_map_page/_sg/_resource and
    dma_unmap_page/_resource right after, dma_unmap_sg right before). Kprobe mode: the domain
    pointer of kprobes:__iommu_map / __iommu_unmap, which fire at the entry of the call whose
    end emits the tracepoint on the same CPU.
    """

    def __init__(self, use_kprobes):
        self.use_kprobes = use_kprobes
        self.events = []

    def load(self, path):
        pending_maps = collections.defaultdict(list)    # cpu -> indexes of maps without owner
        pending_unmaps = collections.defaultdict(list)
        next_unmap_owner = {}                           # cpu -> device from dma_unmap_sg
        entry_owner = {}                                # cpu -> domain from the kprobe entry
        for m in read_text_events(path):
            ev, rest, cpu = m['event'], m['rest'], int(m['cpu'])
            rec = {'ts': float(m['ts']), 'ts_text': m['ts'], 'event': ev, 'cpu': cpu}
            if ev == 'map' and rest.startswith('IOMMU:'):
                g = MAP.search(rest)
                rec.update(iova=int(g[1], 16), paddr=int(g[3], 16), size=int(g[4]), owner=None)
                if self.use_kprobes:
                    rec['owner'] = entry_owner.pop(('map', cpu), None)
                else:
                    pending_maps[cpu].append(len(self.events))
            elif ev == 'unmap' and rest.startswith('IOMMU:'):
                g = UNMAP.search(rest)
                rec.update(iova=int(g[1], 16), size=int(g[4]), owner=None)
                if self.use_kprobes:
                    rec['owner'] = entry_owner.pop(('unmap', cpu), None)
                elif cpu in next_unmap_owner:
                    rec['owner'] = next_unmap_owner.pop(cpu)
                else:
                    pending_unmaps[cpu].append(len(self.events))
            elif ev in ('mm_page_alloc', 'mm_page_free', 'mm_page_free_batched'):
                kv = dict(KV.findall(rest))
                rec.update(pfn=int(kv['pfn'], 16), order=int(kv.get('order', '0')))
            elif ev in ('dma_map_page', 'dma_map_sg', 'dma_map_resource'):
                dev = rest.split(' ', 1)[0]
                for i in pending_maps.pop(cpu, []):
                    self.events[i]['owner'] = dev
                continue
            elif ev in ('dma_unmap_page', 'dma_unmap_resource'):
                dev = rest.split(' ', 1)[0]
                for i in pending_unmaps.pop(cpu, []):
                    self.events[i]['owner'] = dev
                continue
            elif ev == 'dma_unmap_sg':
                next_unmap_owner[cpu] = rest.split(' ', 1)[0]
                continue
            elif ev in ('__iommu_map', '__iommu_unmap'):
                kv = dict(KV.findall(rest))
                entry_owner[('map' if ev == '__iommu_map' else 'unmap', cpu)] = kv['domain']
                continue
            elif ev == 'tracing_mark_write':
                rec['text'] = rest
            else:
                continue
            self.events.append(rec)

    def run(self):
        """Replays the events; returns (hits, ambiguous_unmaps, maps) where a hit is a page
        event on a pfn with a live mapping."""
        live = {}                      # (owner, iova_pfn) -> (paddr_pfn, map index)
        count = collections.Counter()  # paddr pfn -> live mappings
        hits, ambiguous, unknown_owner = [], 0, 0
        for idx, e in enumerate(self.events):
            ev = e['event']
            if ev == 'map':
                n = max(1, e['size'] >> PAGE_SHIFT)
                if e['owner'] is None:
                    unknown_owner += 1
                for i in range(n):
                    key = (e['owner'], (e['iova'] >> PAGE_SHIFT) + i)
                    ppfn = (e['paddr'] >> PAGE_SHIFT) + i
                    if key in live:
                        count[live[key][0]] -= 1
                    live[key] = (ppfn, idx)
                    count[ppfn] += 1
            elif ev == 'unmap':
                n = max(1, e['size'] >> PAGE_SHIFT)
                for i in range(n):
                    ipfn = (e['iova'] >> PAGE_SHIFT) + i
                    key = (e['owner'], ipfn)
                    if e['owner'] is None:
                        cands = [k for k in live if k[1] == ipfn]
                        if len(cands) > 1:
                            ambiguous += 1
                            continue
                        key = cands[0] if cands else key
                    if key in live:
                        ppfn, _ = live.pop(key)
                        count[ppfn] -= 1
            elif ev.startswith('mm_page'):
                for p in range(e['pfn'], e['pfn'] + (1 << e['order'])):
                    if count[p] > 0:
                        maps = [(k, v[1]) for k, v in live.items() if v[0] == p]
                        hits.append({'idx': idx, 'pfn': p, 'maps': maps})
        return hits, ambiguous, unknown_owner


def main():
    raw, dest, name, description = sys.argv[1:5]
    os.makedirs(dest, exist_ok=True)
    for f in os.listdir(dest):
        p = os.path.join(dest, f)
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)

    # Files as they go into the fixture.
    for f in ('cmdline.txt', 'dmesg.txt', 'pci.txt', 'iommu_groups.txt', 'iommu_class.txt', 'kprobe_events.txt',
              'markers.txt', 'trace-cmd-record.log', 'cpu-stats-record.txt', 'cpu-stats-text.txt', 'trace.dat'):
        shutil.copyfile(os.path.join(raw, f), os.path.join(dest, f))
    shutil.copytree(os.path.join(raw, 'formats'), os.path.join(dest, 'formats'))
    with open(os.path.join(raw, 'trace.txt'), 'rb') as src, gzip.GzipFile(os.path.join(dest, 'trace.txt.gz'), 'wb', 9, mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    v6 = os.path.join(raw, 'trace-v6.dat')
    subprocess.run(['trace-cmd', 'convert', '--file-version', '6', '-i', os.path.join(raw, 'trace.dat'), '-o', v6],
                   check=True, capture_output=True)
    with open(v6, 'rb') as src, gzip.GzipFile(os.path.join(dest, 'trace-v6.dat.gz'), 'wb', 9, mtime=0) as dst:
        shutil.copyfileobj(src, dst)

    read = lambda f: open(os.path.join(raw, f), encoding='utf-8', errors='replace').read()
    cmdline = read('cmdline.txt').strip()
    strict = ' iommu.strict=1' in ' ' + cmdline
    kprobe_lines = [l for l in read('kprobe_events.txt').splitlines() if l.strip()]
    use_kprobes = bool(kprobe_lines)
    guest = {w.split('=', 1)[0][6:]: w.split('=', 1)[1] for w in cmdline.split() if w.startswith('suite.')}
    dmesg = read('dmesg.txt')

    tracker = Tracker(use_kprobes)
    tracker.load(os.path.join(raw, 'trace.txt'))
    events = tracker.events
    markers = [e for e in events if e['event'] == 'tracing_mark_write']
    windows = {}
    for e in markers:
        t = e['text'].strip()
        if t.startswith('iommu_scen: begin '):
            windows[t.split()[-1]] = {'scenario': t.split()[-1], 'begin_ts': e['ts']}
        elif t.startswith('iommu_scen: end '):
            windows[t.split()[-1]]['end_ts'] = e['ts']
    hits, ambiguous, unknown_owner = tracker.run()

    # Ground truth from the module's kernel log lines, one per mapped page.
    expected, exp_keys = [], set()
    for line in dmesg.splitlines():
        m = TRUTH.match(line)
        if not m:
            continue
        kv = dict(KV.findall(m['body']))
        scen = kv['scenario']
        e = {
            'scenario': scen, 'kind': kv['expect'], 'pfn': kv['pfn'], 'order': int(kv['order']),
            'device': kv['dev'], 'iova': kv['iova'], 'size': int(kv['size']), 'domain': '0x' + kv['domain'],
            'dmesg_ts': float(m['ts']), 'dmesg': line,
            'details': {k: v for k, v in kv.items() if k not in ('scenario', 'expect', 'pfn', 'order', 'dev', 'iova', 'size', 'domain')},
            'finding_expected': FINDING_KINDS[kv['expect']],
        }
        pfn, iova_pfn = int(kv['pfn'], 16), int(kv['iova'], 16) >> PAGE_SHIFT
        owner = e['domain'] if use_kprobes else e['device']
        exp_keys.add((pfn, owner, iova_pfn))
        mine = [h for h in hits if h['pfn'] == pfn and any(k == (owner, iova_pfn) for k, _ in h['maps'])]
        e['page_events_while_mapped'] = [
            f"{events[h['idx']]['ts_text']} {events[h['idx']]['event']} pfn={events[h['idx']]['pfn']:#x} order={events[h['idx']]['order']}"
            for h in mine]
        # The map of this page: the expected IOVA range holding this pfn.
        map_ev = next((x for x in events if x['event'] == 'map' and x['owner'] == owner
                       and x['iova'] >> PAGE_SHIFT <= iova_pfn < (x['iova'] + max(x['size'], 1 << PAGE_SHIFT)) >> PAGE_SHIFT
                       and (x['paddr'] >> PAGE_SHIFT) + iova_pfn - (x['iova'] >> PAGE_SHIFT) == pfn), None)
        unmap_ev = None
        if map_ev is not None:
            start = events.index(map_ev)
            unmap_ev = next((x for x in events[start + 1:] if x['event'] == 'unmap' and x['owner'] == owner
                             and x['iova'] >> PAGE_SHIFT <= iova_pfn < (x['iova'] + x['size']) >> PAGE_SHIFT), None)
        frees = [h for h in mine if events[h['idx']]['event'] == 'mm_page_free']
        allocs = [h for h in mine if events[h['idx']]['event'] == 'mm_page_alloc']
        kind = e['kind']
        if map_ev is None:
            ok, why = False, f'no iommu:map of iova {kv["iova"]} to pfn {kv["pfn"]} for {owner} in trace.txt'
        elif kind == 'leak':
            ok = bool(frees)
            why = (f"mm_page_free of pfn at {events[frees[0]['idx']]['ts_text']} while mapped; "
                   + (f"unmapped at {unmap_ev['ts_text']}" if unmap_ev else 'never unmapped in the trace')) if ok else 'no free while mapped'
        elif kind == 'realloc':
            ok = bool(frees) and bool(allocs) and events[frees[0]['idx']]['ts'] <= events[allocs[0]['idx']]['ts']
            why = (f"mm_page_free at {events[frees[0]['idx']]['ts_text']} and mm_page_alloc at {events[allocs[0]['idx']]['ts_text']} while mapped; "
                   f"unmapped at {unmap_ev['ts_text'] if unmap_ev else 'never'}") if ok else 'no free followed by an allocation while mapped'
        else:
            ok = not mine
            if kind == 'clean':
                free_after = next((x for x in events[events.index(unmap_ev) + 1:] if x['event'] == 'mm_page_free'
                                   and x['pfn'] <= pfn < x['pfn'] + (1 << x['order'])), None) if unmap_ev else None
                ok = ok and unmap_ev is not None
                why = (f"unmap at {unmap_ev['ts_text']} (unmapped_size={unmap_ev['size']}) precedes mm_page_free at "
                       f"{free_after['ts_text'] if free_after else '(not in trace)'}") if ok else 'page event while mapped'
            elif kind == 'subpage':
                why = (f"mapped {map_ev['ts_text']}..{unmap_ev['ts_text'] if unmap_ev else 'end'}; the slab page is neither freed nor allocated while mapped"
                       if ok else 'the slab page itself was freed or allocated while mapped')
            else:
                why = (f"MMIO pfn {kv['pfn']} mapped at {map_ev['ts_text']}; no page allocator event for it" if ok
                       else 'page allocator event on an MMIO pfn')
        e['verification'] = 'PASS' if ok else 'FAIL'
        e['verification_reason'] = why
        e['notes'] = NOTES.get(scen, '')
        w = windows.get(scen, {})
        e['window'] = {'begin': w.get('begin_ts'), 'end': w.get('end_ts')}
        expected.append(e)

    other = [h for h in hits if not any((h['pfn'], k[0], k[1]) in exp_keys for k, _ in h['maps'])]
    ref = {
        'mode': '(domain pointer from kprobes, iova)' if use_kprobes else '(device from the accompanying dma:* event, iova)',
        'page_events_hitting_live_mapping': len(hits),
        'on_expected_pfns': len(hits) - len(other),
        'on_other_pfns': len(other),
        'other_examples': [f"{events[h['idx']]['ts_text']} {events[h['idx']]['event']} pfn={h['pfn']:#x} mapped by {h['maps'][0][0]}" for h in other[:10]],
        'ambiguous_unmaps': ambiguous,
        'maps_without_owner': unknown_owner,
    }

    text_counts = collections.Counter(e2['event'] for e2 in read_text_events(os.path.join(raw, 'trace.txt')))
    manifest = {
        'name': name,
        'kernel': {
            'release': dmesg.split('Linux version ', 1)[1].split()[0] if 'Linux version ' in dmesg else '',
            'uname': read('uname.txt').strip(),
            'cmdline': cmdline,
            'source': "Debian's 6.12 kernel (bookworm-backports linux-image-" + read('uname.txt').split()[2] + ')',
        },
        'machine': {
            'emulator': 'QEMU 7.2 (TCG), q35, 2 vCPUs, emulated Intel IOMMU (intel-iommu, intremap=on, caching-mode=off)',
            'pci_devices': read('pci.txt').splitlines(),
            'iommu_groups': read('iommu_groups.txt').splitlines(),
            'iommu': read('iommu_class.txt').strip(),
        },
        'config': {
            'id': name,
            'description': description,
            'guest_config': ' '.join(f'{k}={v}' for k, v in guest.items()),
            'iommu_strict': strict,
            'kprobes': use_kprobes,
            'trace_clock': read('trace_clock.txt').strip(),
            'trace_cmd_record_events': read('trace-cmd-record.log').split('events:', 1)[1].splitlines()[0].strip() if 'events:' in read('trace-cmd-record.log') else '',
            'kprobe_events': kprobe_lines,
            'recorded_with': 'capture/iommusan-record.sh (trace-cmd mode for trace.dat, nested tracefs mode for trace.txt)',
            'recorder_exit_code': int(read('record-rc.txt').strip()),
            # The recorder must remove every probe it added: kprobe_events read after it exited.
            'kprobe_events_after_record': [l for l in read('kprobe_events-after.txt').splitlines() if l.strip()],
        },
        'event_counts': {
            'trace.txt': dict(text_counts.most_common()),
            'trace.dat': count_report_events(os.path.join(raw, 'trace.dat')),
            'trace-v6.dat': count_report_events(v6),
        },
        'cpu_stats': {
            'text_instance': parse_stats(read('cpu-stats-text.txt')),
            'trace_cmd_record_toplevel_after_record': parse_stats(read('cpu-stats-record.txt')),
            'trace_cmd_report_stat': subprocess.run(['trace-cmd', 'report', '--stat', '-i', os.path.join(raw, 'trace.dat')],
                                                    capture_output=True, text=True).stdout,
        },
        'scenario_windows': list(windows.values()),
        'markers': [f"{e2['ts_text']} {e2['text'].strip()}" for e2 in markers],
        'expected': expected,
        'verification_summary': dict(collections.Counter(e2['verification'] for e2 in expected)),
        'reference_check': ref,
    }
    os.remove(v6)

    descriptions = {
        'cmdline.txt': 'guest kernel command line', 'dmesg.txt': 'guest kernel log (ground-truth lines: iommu_scen: scenario=... expect=...)',
        'pci.txt': 'PCI devices: vendor:device, class, driver, IOMMU group, BAR0',
        'iommu_groups.txt': 'IOMMU groups and their default domain type', 'iommu_class.txt': 'IOMMU unit registers',
        'kprobe_events.txt': 'kprobe definitions active while recording (empty: tracepoints only)',
        'markers.txt': 'guest-side timeline (/proc/uptime seconds) of the trace_marker writes and insmod results',
        'trace-cmd-record.log': 'trace-cmd record output', 'cpu-stats-record.txt': 'per-CPU ring buffer stats of the top-level buffer after trace-cmd record finished',
        'cpu-stats-text.txt': 'per-CPU ring buffer stats of the ftrace instance that produced trace.txt (overrun / dropped events)',
        'trace.dat': 'trace-cmd record output, file format version 7, zstd compressed',
        'trace-v6.dat.gz': 'trace.dat converted with trace-cmd convert --file-version 6, gzip -9',
        'trace.txt.gz': 'tracefs trace (text) of a second ftrace instance over the same workload, gzip -9',
    }
    files = []
    for root, _, names in os.walk(dest):
        for f in names:
            p = os.path.join(root, f)
            rel = os.path.relpath(p, dest)
            if rel == 'manifest.json':
                continue
            files.append({'path': rel, 'bytes': os.path.getsize(p), 'sha256': sha256(p),
                          'description': descriptions.get(rel, 'event format file' if rel.startswith('formats/') else '')})
    manifest['files'] = sorted(files, key=lambda x: x['path'])
    with open(os.path.join(dest, 'manifest.json'), 'w', encoding='utf-8') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')
    summary = ', '.join(f"{e2['scenario']}:{e2['kind']}:{e2['verification']}" for e2 in expected)
    print(f'{name}: {summary}; other page events while mapped: {len(other)}; ambiguous unmaps: {ambiguous}')
    return 0 if all(e2['verification'] == 'PASS' for e2 in expected) else 1


if __name__ == '__main__':
    sys.exit(main())
