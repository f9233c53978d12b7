/*
 * A yardstick for the session table: SessionTable.track() written in C, replayed over the same trace that
 * `table-trace.js` replays (it caches the trace under $TMPDIR/offpath-bench/table-trace/). Same layout as
 * src/session/session-layout.ts (42-word rows, an index of (hash, session + 1) pairs at load <= 0.5 with linear
 * probing), the same hash, the same per-direction TCP tracking and the same class lists, each class change
 * unlinking the session and appending it. No expiry walk (nothing times out within the synthetic capture), no
 * eviction (the table is sized for every session) and no port-reuse split (the synthetic capture has none: both
 * make the same 999,960 sessions). The trace's format is table-trace.ts's (TRACE_VERSION 1: its FIELDS in order,
 * then the timestamp as a double and the wire length, 24 words a packet).
 *
 * It tells how much of the JavaScript table's time per packet the memory itself costs, on the same machine and
 * the same accesses: see test/bench/HISTORY.md (session 16). Not part of `npm run bench` and not a product part.
 *
 *   gcc -O2 -o /tmp/table-trace test/bench/native-table/table-trace.c
 *   taskset -c 1 /tmp/table-trace TRACE [PASSES]        # HUGE=1: madvise(MADV_HUGEPAGE) on both arrays
 *
 * Each pass maps fresh arrays (so it pays the page faults, as each pass of table-trace.js does); prints one line
 * per pass and a JSON summary.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* The row layout, hash and classes: the addon's own definitions (one copy in C for both). */
#include "../../../native-bindings/src/session_rules.h"

enum { RECORD_WORDS = 24 };

static uint32_t *rows;
static double *rowsF64;
static int32_t *slots;
static uint32_t slotMask;
static int32_t listHead[CLASSES], listTail[CLASSES];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int classOf(uint32_t s) { return sessionClassOf(rows, s); }

static void unlinkSession(uint32_t s) {
  uint32_t r = s * ROW_WORDS;
  int cls = (rows[r + W_INFO] >> 8) & 0xff;
  if (cls == NOT_QUEUED) return;
  int32_t p = (int32_t)rows[r + W_PREV], n = (int32_t)rows[r + W_NEXT];
  if (p < 0) listHead[cls] = n; else rows[p * ROW_WORDS + W_NEXT] = n;
  if (n < 0) listTail[cls] = p; else rows[n * ROW_WORDS + W_PREV] = p;
  rows[r + W_INFO] = (rows[r + W_INFO] & 0xffff00ffu) | (NOT_QUEUED << 8);
}

static void append(int cls, uint32_t s) {
  uint32_t r = s * ROW_WORDS;
  int32_t tail = listTail[cls];
  rows[r + W_PREV] = tail;
  rows[r + W_NEXT] = (uint32_t)-1;
  if (tail < 0) listHead[cls] = s; else rows[tail * ROW_WORDS + W_NEXT] = s;
  listTail[cls] = s;
  rows[r + W_INFO] = (rows[r + W_INFO] & 0xffff00ffu) | (cls << 8);
}

static void *mapArray(size_t bytes, int huge) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(1); }
  madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  return p;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: table-trace TRACE [PASSES]\n"); return 2; }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint32_t *trace = malloc(size);
  if (!trace || fread(trace, 1, size, f) != (size_t)size) { fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
  fclose(f);
  long packets = size / 4 / RECORD_WORDS;
  int passes = argc > 2 ? atoi(argv[2]) : 3;
  int huge = getenv("HUGE") != NULL;
  const uint32_t capacity = 1000000, slotCount = 1u << 21; /* SessionTable's defaults */
  size_t slotBytes = (size_t)slotCount * 8, rowBytes = (size_t)capacity * ROW_WORDS * 4;
  double best = 1e9;
  printf("{\"packets\":%ld,\"huge\":%d,\"msPerPass\":[", packets, huge);
  for (int pass = 0; pass < passes; pass++) {
    slots = mapArray(slotBytes, huge);
    rows = mapArray(rowBytes, huge);
    rowsF64 = (double *)rows;
    slotMask = slotCount - 1;
    uint32_t used = 0;
    for (int i = 0; i < CLASSES; i++) listHead[i] = listTail[i] = -1;
    uint64_t sink = 0;
    double t0 = now();
    for (long i = 0; i < packets; i++) {
      const uint32_t *p = trace + (size_t)i * RECORD_WORDS;
      uint32_t src0 = p[0], src1 = p[1], src2 = p[2], src3 = p[3], dst0 = p[4], dst1 = p[5], dst2 = p[6], dst3 = p[7];
      uint32_t sport = p[8], dport = p[9], proto = p[10], flags = p[13], seq = p[14], ack = p[15], window = p[16];
      uint32_t ttl = p[17], payload = p[18], windowScale = p[19], wire = p[23];
      int v4 = p[20] == 4;
      double ts;
      memcpy(&ts, p + 21, 8);
      uint32_t frameVlan = (p[11] << 12) | p[12], meta = (proto << 24) | frameVlan;
      uint32_t forward = (sport << 16) | dport, reverse = (dport << 16) | sport, family = v4 ? 1 : 0;
      uint32_t h = v4 ? mixEndpoints(endpointHashV4(src3, sport), endpointHashV4(dst3, dport), meta)
                      : mixEndpoints(endpointHash(src0, src1, src2, src3, sport), endpointHash(dst0, dst1, dst2, dst3, dport), meta);
      int64_t session = -1;
      int dir = 0;
      uint32_t slot = h & slotMask;
      for (;; slot = (slot + 1) & slotMask) {
        int32_t entry = slots[2 * slot + 1];
        if (entry == 0) break;
        if ((uint32_t)slots[2 * slot] != h) continue;
        uint32_t s = entry - 1, r = s * ROW_WORDS;
        if (rows[r + W_META] != meta || (rows[r + W_INFO] & 1) != family) continue;
        uint32_t ports = rows[r + W_PORTS];
        if (ports == forward && rows[r + 3] == src3 && rows[r + 7] == dst3 &&
            (v4 || (rows[r] == src0 && rows[r + 1] == src1 && rows[r + 2] == src2 && rows[r + 4] == dst0 &&
                    rows[r + 5] == dst1 && rows[r + 6] == dst2))) { session = s; dir = 0; break; }
        if (ports == reverse && rows[r + 3] == dst3 && rows[r + 7] == src3 &&
            (v4 || (rows[r] == dst0 && rows[r + 1] == dst1 && rows[r + 2] == dst2 && rows[r + 4] == src0 &&
                    rows[r + 5] == src1 && rows[r + 6] == src2))) { session = s; dir = 1; break; }
      }
      if (session < 0) {
        int swap = proto == 6 && (flags & (SYN | ACK)) == (SYN | ACK);
        uint32_t s = used++, r = s * ROW_WORDS;
        memset(rows + r, 0, ROW_WORDS * 4);
        const uint32_t a[8] = { src0, src1, src2, src3, dst0, dst1, dst2, dst3 };
        for (int k = 0; k < 8; k++) rows[r + k] = a[swap ? (k + 4) & 7 : k];
        rows[r + W_PORTS] = swap ? reverse : forward;
        rows[r + W_META] = meta;
        rows[r + W_HASH] = h;
        rows[r + W_INFO] = family | (NOT_QUEUED << 8);
        rows[r + W_VERDICT_VERSION] = 0xffffffffu;
        rows[r + W_VERDICT] = 0xffffffffu;
        rowsF64[(r + W_FIRST_TS) >> 1] = ts;
        rowsF64[(r + W_LAST_TS) >> 1] = ts;
        while (slots[2 * slot + 1] != 0) slot = (slot + 1) & slotMask;
        slots[2 * slot] = (int32_t)h;
        slots[2 * slot + 1] = (int32_t)s + 1;
        session = s;
        dir = swap;
      }
      uint32_t r = (uint32_t)session * ROW_WORDS, d = r + W_DIR + dir * DIR_WORDS;
      rowsF64[(d + D_PACKETS) >> 1] += 1;
      rowsF64[(d + D_BYTES) >> 1] += wire;
      uint32_t before = rows[d + D_STATE];
      rows[d + D_STATE] = (before & 0xff00ffffu) | DIR_SEEN | (ttl << 16);
      rows[d + D_VLAN] = frameVlan;
      rowsF64[(r + W_LAST_TS) >> 1] = ts;
      int stateChanged = 0;
      if (proto == 6) {
        uint32_t end = seq + payload, word = rows[d + D_STATE];
        int state = word & 0xff, next = state;
        if (flags & SYN) {
          end++;
          if (!(word & DIR_HAS_ISN)) { rows[d + D_ISN] = seq; word = (word & 0x00ffffffu) | DIR_HAS_ISN | ((windowScale + 1) << 24); }
          if (state < T_ESTABLISHED) next = flags & ACK ? T_SYN_ACK : T_SYN;
        } else if (flags & RST) {
          next = T_RST;
        } else if (state != T_RST) {
          if (flags & FIN) { next = T_FIN; end++; }
          else if (state < T_ESTABLISHED && (flags & ACK)) next = T_ESTABLISHED;
        }
        if (!(before & DIR_SEEN) || (int32_t)(end - rows[d + D_NXT]) > 0) rows[d + D_NXT] = end;
        if (flags & ACK) {
          if (!(word & DIR_HAS_ACK) || (int32_t)(ack - rows[d + D_LAST_ACK]) > 0) rows[d + D_LAST_ACK] = ack;
          word |= DIR_HAS_ACK;
        }
        if (!(flags & RST)) rows[d + D_WINDOW] = window;
        rows[d + D_STATE] = (word & 0xffffff00u) | next;
        stateChanged = ((rows[d + D_STATE] ^ before) & 0xff) != 0;
      }
      if (!(before & DIR_SEEN) || stateChanged) {
        int cls = classOf(session);
        if (cls != (int)((rows[r + W_INFO] >> 8) & 0xff)) {
          unlinkSession(session);
          rowsF64[(r + W_QUEUED_TS) >> 1] = ts;
          append(cls, session);
        }
      }
      sink += session;
    }
    double ms = (now() - t0) * 1e3;
    if (ms < best) best = ms;
    fprintf(stderr, "pass %d/%d: %.0f ms, %.1f ns a packet, %u sessions (%llu)\n", pass + 1, passes, ms, ms * 1e6 / packets,
            used, (unsigned long long)sink);
    printf("%s%.0f", pass ? "," : "", ms);
    munmap(slots, slotBytes);
    munmap(rows, rowBytes);
  }
  printf("],\"bestNsPerPacket\":%.1f}\n", best * 1e6 / packets);
  return 0;
}
