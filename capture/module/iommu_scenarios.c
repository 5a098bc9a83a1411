// SPDX-License-Identifier: GPL-2.0
/*
 * iommu_scenarios: one deliberate DMA mapping pattern per module load, for
 * capturing kernel traces whose IOMMU findings are known in advance.
 *
 * Load with `insmod iommu_scenarios.ko scenario=NAME`; the scenario runs in
 * module init and the module is removed again with rmmod. Every scenario maps
 * through the emulated e1000e (8086:10d3) so the mapping goes through the
 * IOMMU DMA API, and writes one machine-readable ground-truth line per mapped
 * page to the kernel log:
 *
 *   iommu_scen: scenario=NAME expect=KIND pfn=0x.. order=N dev=BDF iova=0x..
 *               size=N domain=PTR domain_type=0x.. xlate=0x.. unmap=WHEN ...
 *
 * KIND says what a page-granular sanitizer (the kernel's
 * IOMMU_DEBUG_PAGEALLOC rule: a page freed or allocated while its count of
 * live IOMMU mappings is non-zero) must report for that pfn: see
 * docs/capture.md for the meaning of each kind.
 */
#define pr_fmt(fmt) "iommu_scen: " fmt

#include <linux/module.h>
#include <linux/pci.h>
#include <linux/dma-mapping.h>
#include <linux/iommu.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/delay.h>

static char *scenario = "clean";
module_param(scenario, charp, 0444);
MODULE_PARM_DESC(scenario, "page_uaf|clean|order2_inner|sg_uaf|late_unmap|realloc_mapped|kmalloc_uaf|mmio_resource");

/* The emulated devices of the capture harness (capture/run-qemu.sh). */
#define NIC_VENDOR 0x8086
#define NIC_DEVICE 0x10d3	/* e1000e 82574L */
#define NVME_VENDOR 0x1b36
#define NVME_DEVICE 0x0010	/* QEMU NVMe controller */

#define SG_PAGES 3
/* Long enough that other CPUs' page traffic lands between free and unmap. */
#define LATE_UNMAP_MS 20
/* How many allocations realloc_mapped tries before it gives up getting its page back. */
#define REALLOC_TRIES 64

struct scen_ctx {
	struct pci_dev *nic;
	struct pci_dev *nvme;
	struct device *dev;
	struct iommu_domain *domain;
};

static unsigned int domain_type(const struct scen_ctx *c)
{
	return c->domain ? c->domain->type : 0;
}

static phys_addr_t xlate(const struct scen_ctx *c, dma_addr_t iova)
{
	return c->domain ? iommu_iova_to_phys(c->domain, iova & PAGE_MASK) : 0;
}

/* One ground-truth line; @extra carries scenario-specific key=value pairs. */
static void truth(const struct scen_ctx *c, const char *expect, unsigned long pfn,
		  unsigned int order, dma_addr_t iova, size_t size, const char *unmap,
		  const char *extra)
{
	pr_info("scenario=%s expect=%s pfn=0x%lx order=%u dev=%s iova=0x%llx size=%zu domain=%px domain_type=0x%x xlate=0x%llx unmap=%s%s%s\n",
		scenario, expect, pfn, order, dev_name(c->dev), (unsigned long long)iova,
		size, c->domain, domain_type(c), (unsigned long long)xlate(c, iova), unmap,
		extra ? " " : "", extra ? extra : "");
}

static int map_one(struct scen_ctx *c, struct page *page, size_t size, dma_addr_t *iova)
{
	*iova = dma_map_page(c->dev, page, 0, size, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(c->dev, *iova)) {
		pr_info("scenario=%s info=map_failed\n", scenario);
		return -EIO;
	}
	return 0;
}

/* alloc_page, map, free without unmap: the mapping stays live for the rest of the trace. */
static int scen_page_uaf(struct scen_ctx *c)
{
	struct page *page = alloc_page(GFP_KERNEL);
	dma_addr_t iova;
	int rc;

	if (!page)
		return -ENOMEM;
	rc = map_one(c, page, PAGE_SIZE, &iova);
	if (rc) {
		__free_page(page);
		return rc;
	}
	truth(c, "leak", page_to_pfn(page), 0, iova, PAGE_SIZE, "never", NULL);
	pr_info("scenario=%s info=freed pfn=0x%lx\n", scenario, page_to_pfn(page));
	__free_page(page);
	return 0;
}

static int scen_clean(struct scen_ctx *c)
{
	struct page *page = alloc_page(GFP_KERNEL);
	dma_addr_t iova;
	int rc;

	if (!page)
		return -ENOMEM;
	rc = map_one(c, page, PAGE_SIZE, &iova);
	if (rc) {
		__free_page(page);
		return rc;
	}
	truth(c, "clean", page_to_pfn(page), 0, iova, PAGE_SIZE, "before_free", NULL);
	dma_unmap_page(c->dev, iova, PAGE_SIZE, DMA_BIDIRECTIONAL);
	pr_info("scenario=%s info=unmapped iova=0x%llx\n", scenario, (unsigned long long)iova);
	__free_page(page);
	pr_info("scenario=%s info=freed pfn=0x%lx\n", scenario, page_to_pfn(page));
	return 0;
}

/*
 * An order-2 block whose second page alone is mapped is freed as one block:
 * mm_page_free names the block's first pfn with order=2, the finding is the
 * inner pfn. Unmapped shortly after the free so the block does not stay
 * poisoned for the rest of the trace.
 */
static int scen_order2_inner(struct scen_ctx *c)
{
	struct page *block = alloc_pages(GFP_KERNEL, 2);
	struct page *inner;
	dma_addr_t iova;
	char extra[64];
	int rc;

	if (!block)
		return -ENOMEM;
	inner = nth_page(block, 1);
	rc = map_one(c, inner, PAGE_SIZE, &iova);
	if (rc) {
		__free_pages(block, 2);
		return rc;
	}
	snprintf(extra, sizeof(extra), "block_pfn=0x%lx block_order=2", page_to_pfn(block));
	truth(c, "leak", page_to_pfn(inner), 2, iova, PAGE_SIZE, "after_free", extra);
	__free_pages(block, 2);
	pr_info("scenario=%s info=freed pfn=0x%lx order=2\n", scenario, page_to_pfn(block));
	msleep(LATE_UNMAP_MS);
	dma_unmap_page(c->dev, iova, PAGE_SIZE, DMA_BIDIRECTIONAL);
	pr_info("scenario=%s info=unmapped iova=0x%llx\n", scenario, (unsigned long long)iova);
	return 0;
}

/*
 * Three separate pages in one scatterlist, mapped with dma_map_sg (one
 * iommu:map per page into one contiguous IOVA range), all freed while
 * mapped, then unmapped as one range.
 */
static int scen_sg_uaf(struct scen_ctx *c)
{
	struct scatterlist sgl[SG_PAGES];
	struct page *pages[SG_PAGES] = { };
	dma_addr_t base;
	char extra[64];
	int i, nents, rc = 0;

	sg_init_table(sgl, SG_PAGES);
	for (i = 0; i < SG_PAGES; i++) {
		pages[i] = alloc_page(GFP_KERNEL);
		if (!pages[i]) {
			rc = -ENOMEM;
			goto free;
		}
		sg_set_page(&sgl[i], pages[i], PAGE_SIZE, 0);
	}
	nents = dma_map_sg(c->dev, sgl, SG_PAGES, DMA_BIDIRECTIONAL);
	if (!nents) {
		pr_info("scenario=%s info=map_failed\n", scenario);
		rc = -EIO;
		goto free;
	}
	/* The IOMMU DMA layer lays page-aligned segments out back to back in IOVA space. */
	base = sg_dma_address(&sgl[0]);
	for (i = 0; i < SG_PAGES; i++) {
		snprintf(extra, sizeof(extra), "sg_index=%d sg_nents=%d dma_nents=%d", i, SG_PAGES, nents);
		truth(c, "leak", page_to_pfn(pages[i]), 0, base + (dma_addr_t)i * PAGE_SIZE,
		      PAGE_SIZE, "after_free", extra);
	}
	for (i = 0; i < SG_PAGES; i++) {
		__free_page(pages[i]);
		pages[i] = NULL;
	}
	pr_info("scenario=%s info=freed sg pages\n", scenario);
	msleep(LATE_UNMAP_MS);
	dma_unmap_sg(c->dev, sgl, SG_PAGES, DMA_BIDIRECTIONAL);
	pr_info("scenario=%s info=unmapped iova=0x%llx\n", scenario, (unsigned long long)base);
free:
	for (i = 0; i < SG_PAGES; i++)
		if (pages[i])
			__free_page(pages[i]);
	return rc;
}

/* Freed while mapped, unmapped LATE_UNMAP_MS later: the later unmap does not undo the finding. */
static int scen_late_unmap(struct scen_ctx *c)
{
	struct page *page = alloc_page(GFP_KERNEL);
	dma_addr_t iova;
	int rc;

	if (!page)
		return -ENOMEM;
	rc = map_one(c, page, PAGE_SIZE, &iova);
	if (rc) {
		__free_page(page);
		return rc;
	}
	truth(c, "leak", page_to_pfn(page), 0, iova, PAGE_SIZE, "after_free",
	      "delay_ms=" __stringify(LATE_UNMAP_MS));
	__free_page(page);
	pr_info("scenario=%s info=freed pfn=0x%lx\n", scenario, page_to_pfn(page));
	msleep(LATE_UNMAP_MS);
	dma_unmap_page(c->dev, iova, PAGE_SIZE, DMA_BIDIRECTIONAL);
	pr_info("scenario=%s info=unmapped iova=0x%llx\n", scenario, (unsigned long long)iova);
	return 0;
}

/*
 * Freed while mapped and allocated again (by us) before the unmap: two
 * findings on one pfn, the free and the allocation. Free and re-allocation
 * happen on one CPU with preemption off so the per-CPU free list hands the
 * same page back.
 */
static int scen_realloc_mapped(struct scen_ctx *c)
{
	struct page *page = alloc_page(GFP_KERNEL);
	struct page *others[REALLOC_TRIES];
	struct page *again = NULL;
	unsigned long pfn;
	dma_addr_t iova;
	char extra[48];
	int i, n = 0, rc;

	if (!page)
		return -ENOMEM;
	pfn = page_to_pfn(page);
	rc = map_one(c, page, PAGE_SIZE, &iova);
	if (rc) {
		__free_page(page);
		return rc;
	}
	get_cpu();
	__free_page(page);
	for (i = 0; i < REALLOC_TRIES; i++) {
		struct page *p = alloc_page(GFP_ATOMIC);

		if (!p)
			break;
		if (page_to_pfn(p) == pfn) {
			again = p;
			break;
		}
		others[n++] = p;
	}
	put_cpu();
	snprintf(extra, sizeof(extra), "realloc_tries=%d", i + 1);
	if (again) {
		truth(c, "realloc", pfn, 0, iova, PAGE_SIZE, "after_realloc", extra);
		dma_unmap_page(c->dev, iova, PAGE_SIZE, DMA_BIDIRECTIONAL);
		pr_info("scenario=%s info=unmapped iova=0x%llx\n", scenario, (unsigned long long)iova);
		__free_page(again);
	} else {
		/* Never got it back: still a page freed while mapped. */
		truth(c, "leak", pfn, 0, iova, PAGE_SIZE, "after_free", "realloc_tries=miss");
		dma_unmap_page(c->dev, iova, PAGE_SIZE, DMA_BIDIRECTIONAL);
	}
	pr_info("scenario=%s info=freed pfn=0x%lx\n", scenario, pfn);
	for (i = 0; i < n; i++)
		__free_page(others[i]);
	return 0;
}

/*
 * A 512-byte kmalloc buffer mapped, kfree'd, unmapped later. The slab page
 * stays allocated, so a page-granular sanitizer has nothing to report: the
 * object-level use-after-free is invisible to the page rule.
 */
static int scen_kmalloc_uaf(struct scen_ctx *c)
{
	void *buf = kmalloc(512, GFP_KERNEL);
	dma_addr_t iova;
	char extra[48];

	if (!buf)
		return -ENOMEM;
	iova = dma_map_single(c->dev, buf, 512, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(c->dev, iova)) {
		kfree(buf);
		return -EIO;
	}
	snprintf(extra, sizeof(extra), "ptr=%px", buf);
	truth(c, "subpage", page_to_pfn(virt_to_page(buf)), 0, iova, 512, "after_kfree", extra);
	kfree(buf);
	pr_info("scenario=%s info=kfreed ptr=%px\n", scenario, buf);
	msleep(LATE_UNMAP_MS);
	dma_unmap_single(c->dev, iova, 512, DMA_BIDIRECTIONAL);
	pr_info("scenario=%s info=unmapped iova=0x%llx\n", scenario, (unsigned long long)iova);
	return 0;
}

/* MMIO (the NVMe controller's BAR0) mapped for the NIC: no struct page behind the pfn. */
static int scen_mmio_resource(struct scen_ctx *c)
{
	phys_addr_t bar;
	dma_addr_t iova;
	char extra[64];

	if (!c->nvme)
		return -ENODEV;
	bar = pci_resource_start(c->nvme, 0);
	iova = dma_map_resource(c->dev, bar, PAGE_SIZE, DMA_BIDIRECTIONAL, 0);
	if (dma_mapping_error(c->dev, iova))
		return -EIO;
	snprintf(extra, sizeof(extra), "resource=0x%llx pfn_valid=%d",
		 (unsigned long long)bar, pfn_valid(PHYS_PFN(bar)));
	truth(c, "no_page", PHYS_PFN(bar), 0, iova, PAGE_SIZE, "before_end", extra);
	dma_unmap_resource(c->dev, iova, PAGE_SIZE, DMA_BIDIRECTIONAL, 0);
	pr_info("scenario=%s info=unmapped iova=0x%llx\n", scenario, (unsigned long long)iova);
	return 0;
}

static const struct {
	const char *name;
	int (*run)(struct scen_ctx *c);
} scenarios[] = {
	{ "page_uaf", scen_page_uaf },
	{ "clean", scen_clean },
	{ "order2_inner", scen_order2_inner },
	{ "sg_uaf", scen_sg_uaf },
	{ "late_unmap", scen_late_unmap },
	{ "realloc_mapped", scen_realloc_mapped },
	{ "kmalloc_uaf", scen_kmalloc_uaf },
	{ "mmio_resource", scen_mmio_resource },
};

static int __init iommu_scenarios_init(void)
{
	struct scen_ctx c = { };
	int i, rc = -EINVAL;

	c.nic = pci_get_device(NIC_VENDOR, NIC_DEVICE, NULL);
	if (!c.nic) {
		pr_info("scenario=%s info=no_nic\n", scenario);
		return -ENODEV;
	}
	c.nvme = pci_get_device(NVME_VENDOR, NVME_DEVICE, NULL);
	c.dev = &c.nic->dev;
	c.domain = iommu_get_domain_for_dev(c.dev);
	pr_info("scenario=%s info=begin nic=%s nvme=%s nic_domain=%px nvme_domain=%px\n",
		scenario, pci_name(c.nic), c.nvme ? pci_name(c.nvme) : "none", c.domain,
		c.nvme ? iommu_get_domain_for_dev(&c.nvme->dev) : NULL);
	for (i = 0; i < ARRAY_SIZE(scenarios); i++) {
		if (!strcmp(scenario, scenarios[i].name)) {
			rc = scenarios[i].run(&c);
			break;
		}
	}
	pr_info("scenario=%s info=done rc=%d\n", scenario, rc);
	pci_dev_put(c.nvme);
	pci_dev_put(c.nic);
	/* Success keeps the module loaded so the harness's rmmod is what ends the window. */
	return rc;
}

static void __exit iommu_scenarios_exit(void)
{
}

module_init(iommu_scenarios_init);
module_exit(iommu_scenarios_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Deliberate DMA mapping patterns with ground truth for IommuSan captures");
