/*
 * The intel set's IPv4 lookup structures as src/intel/ lays them out (hash.ts, u32-table.ts, wide-table.ts,
 * lookup-index.ts), for the native intel screen (intel_screen.cc). Plain C, everything static inline.
 *
 * Only what is needed to prove that a key is absent: the miss filter and the probe of a table's current array. A
 * table that is growing (an old array still draining) is never probed here: the screen is off until it has drained.
 * Keep in step with those files; test/unit/intel-screen.test.ts compares every answer with IntelSet.matchV4.
 */
#ifndef OFFPATH_INTEL_RULES_H
#define OFFPATH_INTEL_RULES_H

#include <stdint.h>

/* hash.ts's hashWord ("lowbias32") and mixWord. */
static inline uint32_t intelHashWord(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

static inline uint32_t intelMixWord(uint32_t h, uint32_t w) {
  h ^= w;
  h *= 0x9e3779b1u;
  return h ^ (h >> 15);
}

/* The seed wide-table.ts's home() starts from. */
enum { INTEL_WIDE_SEED = 0x2545f491 };
/* u32-table.ts's FILTER_BITS_PER_SLOT. */
enum { INTEL_FILTER_BITS_PER_SLOT = 4 };

/* A U32Table's current array: [key, value] pairs, value 0 = empty; its miss filter, 4 bits per slot. */
typedef struct {
  const int32_t *slots;
  const int32_t *filter;
  uint32_t capacity;
  /* capacity / 2^32 * 4, computed as u32-table.ts computes it, so that floor(hash * filterScale) is the same bit. */
  double filterScale;
} IntelU32View;

/* A WideTable: [key words..., value] records of `width` key words (2: IPv4 + port, 4: IPv6, 5: IPv6 + port). */
typedef struct {
  const int32_t *slots;
  uint32_t capacity;
  uint32_t width;
  double scale;
} IntelWideView;

static inline double intelFilterScale(uint32_t capacity) {
  return (double)capacity / 4294967296.0 * INTEL_FILTER_BITS_PER_SLOT;
}

static inline double intelScale(uint32_t capacity) {
  return (double)capacity / 4294967296.0;
}

/*
 * The filter bit of a hash (u32-table.ts: bit = Math.floor(hash * filterScale)); below 4 * capacity. The product is
 * never negative, so truncation is the floor, without a call to floor() on a machine without SSE4.1's roundsd.
 */
static inline uint32_t intelFilterBit(const IntelU32View *t, uint32_t hash) {
  return (uint32_t)((double)hash * t->filterScale);
}

/*
 * Whether U32Table.get(key) could return non-zero: 0 only when the key is certainly absent. A probe that does not
 * end within the capacity (no empty slot: never in a table kept below load 0.8) answers "present".
 */
static inline int intelU32MayHold(const IntelU32View *t, uint32_t key) {
  uint32_t h = intelHashWord(key);
  uint32_t bit = intelFilterBit(t, h);
  uint32_t mask = (1u << (bit & 31)) | (1u << (h & 31));
  if (((uint32_t)t->filter[bit >> 5] & mask) != mask) return 0;
  uint32_t i = bit >> 2;
  if (i >= t->capacity) return 1;
  for (uint32_t n = 0; n < t->capacity; n++) {
    int32_t v = t->slots[2 * (size_t)i + 1];
    if (v == 0) return 0;
    if ((uint32_t)t->slots[2 * (size_t)i] == key) return 1;
    if (++i == t->capacity) i = 0;
  }
  return 1;
}

/* Whether WideTable.get(key) could return non-zero, key in key[0..width). */
static inline int intelWideMayHold(const IntelWideView *t, const uint32_t *key) {
  uint32_t w = t->width, h = INTEL_WIDE_SEED;
  for (uint32_t k = 0; k < w; k++) h = intelMixWord(h, key[k]);
  uint32_t i = (uint32_t)((double)intelHashWord(h) * t->scale); /* wide-table.ts's home(): the floor, as above */
  if (i >= t->capacity) return 1;
  for (uint32_t n = 0; n < t->capacity; n++) {
    const int32_t *r = t->slots + (size_t)(w + 1) * i;
    if (r[w] == 0) return 0;
    uint32_t k = 0;
    while (k < w && (uint32_t)r[k] == key[k]) k++;
    if (k == w) return 1;
    if (++i == t->capacity) i = 0;
  }
  return 1;
}

/* lookup-index.ts's MASK6[len * 4 + word]: the mask of address word `word` for an IPv6 prefix of length len. */
static inline uint32_t intelMask6(uint32_t len, uint32_t word) {
  int32_t n = (int32_t)len - 32 * (int32_t)word;
  if (n <= 0) return 0;
  if (n >= 32) return 0xffffffffu;
  return 0xffffffffu << (32 - n);
}

#endif
