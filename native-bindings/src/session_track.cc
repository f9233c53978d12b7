// The session table's per-packet path in C++: src/session/session-table.ts's track() for the packets that need
// nothing but a lookup, a session's creation and its update. It works in place on the table's own typed arrays, so
// every reader of a session (verdicts, responses, session records, the API) reads the same rows either way, and the
// TypeScript table stays whole: expiry, eviction, the end of a session, its callbacks, and the two cases handed back
// to it (a SYN that reuses a session's ports, a full table). The TypeScript track() is the reference; the tests replay
// every capture through both and compare every session record.
//
// Why: in the replay of a million flows, the table's time per packet was half memory stalls and half V8's code
// around them (test/bench/HISTORY.md, sessions 16 and 17); this path removes most of the second half, and it can
// prefetch, which JavaScript cannot (Prefetch). A call costs about 13 ns through Node-API, so it is one call per
// packet with no arguments and no result: the packet's fields, and the result, go through shared typed arrays.
//
// Keep in step with src/session/session-layout.ts (row layout), src/session/native-track.ts (packet record,
// state words) and the hash and TCP tracking in session-table.ts: kLayoutVersion is checked at creation.
#include "session_track.h"

#include "common.h"
#include "intel_screen.h"
#include "session_rules.h"

#include <stdint.h>
#include <string.h>

#include <cmath>

namespace offpath {
namespace {

// Bumped with src/session/native-track.ts's NATIVE_TRACK_LAYOUT whenever the row layout, the packet record or the
// state words change.
constexpr uint32_t kLayoutVersion = 4;

// The packet record (NativePacketRecord in native-track.ts): 32 words, the timestamp a double at words 22-23, then
// the look-ahead hint.
enum { P_SRC = 0, P_DST = 4, P_SPORT = 8, P_DPORT = 9, P_PROTO = 10, P_VLAN0 = 11, P_VLAN1 = 12, P_FLAGS = 13,
       P_SEQ = 14, P_ACK = 15, P_WINDOW = 16, P_TTL = 17, P_PAYLOAD = 18, P_WSCALE = 19, P_IPVER = 20,
       P_FRAME_BYTES = 21, P_TS = 22, P_AHEAD_OFFSET = 24, P_AHEAD_LENGTH = 25, PACKET_WORDS = 32 };
// The state words (Int32Array), owned by the TypeScript table.
enum { ST_FREE_COUNT, ST_HIGH_WATER, ST_ACTIVE, ST_PEAK_ACTIVE, ST_RESULT, STATE_WORDS };

// Handed back to TypeScript: a SYN that starts a new connection on a session's ports, or no free row.
constexpr int32_t kSlowPath = -1;

struct Tracker {
  uint32_t capacity;
  int32_t* slots;
  uint32_t slotMask;
  uint32_t* rows;
  double* rowsF64;
  int32_t* listHead;
  int32_t* listTail;
  int32_t* listSize;
  int32_t* freeList;
  double* created;
  uint32_t* packet;
  const double* packetTs;
  int32_t* state;
  bool vlanTracking;
  static constexpr int kMaxRefs = 10;
  napi_ref refs[kMaxRefs];
  int refCount;
  // Look-ahead (see Prefetch): the source's buffer, and the hash of the packet after the current one.
  const uint8_t* ahead;
  size_t aheadLength;
  napi_ref aheadRef;
  uint32_t pendingHash;
  bool pending;
  // The packet after this one's IPv4 endpoints, for prefetching the intel screen's lines once its flow proves new.
  bool pendingV4;
  uint32_t pendingSrc, pendingDst, pendingSport, pendingDport, pendingProto;
  // The intel screen (intel_screen.cc): loaded by setIntel, used when its words say so.
  IntelScreen screen;
  // The JS functions bound to this tracker (track, setAhead, setIntel): freed when the last of them is collected.
  int owners;
};

void unlinkSession(Tracker* t, uint32_t s) {
  uint32_t* rows = t->rows;
  uint32_t r = s * ROW_WORDS;
  uint32_t cls = (rows[r + W_INFO] >> 8) & 0xff;
  if (cls == NOT_QUEUED) return;
  int32_t p = static_cast<int32_t>(rows[r + W_PREV]), n = static_cast<int32_t>(rows[r + W_NEXT]);
  // Our own rows never hold anything else; the checks keep a corrupt one from writing outside the arrays.
  if (cls >= CLASSES || p >= static_cast<int64_t>(t->capacity) || n >= static_cast<int64_t>(t->capacity)) return;
  if (p < 0) t->listHead[cls] = n; else rows[p * ROW_WORDS + W_NEXT] = static_cast<uint32_t>(n);
  if (n < 0) t->listTail[cls] = p; else rows[n * ROW_WORDS + W_PREV] = static_cast<uint32_t>(p);
  t->listSize[cls]--;
  rows[r + W_INFO] = (rows[r + W_INFO] & 0xffff00ffu) | (NOT_QUEUED << 8);
}

void append(Tracker* t, int cls, uint32_t s) {
  uint32_t* rows = t->rows;
  uint32_t r = s * ROW_WORDS;
  int32_t tail = t->listTail[cls];
  rows[r + W_PREV] = static_cast<uint32_t>(tail);
  rows[r + W_NEXT] = 0xffffffffu;
  if (tail < 0) t->listHead[cls] = static_cast<int32_t>(s);
  else if (tail < static_cast<int64_t>(t->capacity)) rows[tail * ROW_WORDS + W_NEXT] = s;
  t->listTail[cls] = static_cast<int32_t>(s);
  t->listSize[cls]++;
  rows[r + W_INFO] = (rows[r + W_INFO] & 0xffff00ffu) | (static_cast<uint32_t>(cls) << 8);
}

inline uint16_t Be16(const uint8_t* b) { return static_cast<uint16_t>((b[0] << 8) | b[1]); }
inline uint32_t Be32(const uint8_t* b) {
  return (static_cast<uint32_t>(b[0]) << 24) | (static_cast<uint32_t>(b[1]) << 16) | (static_cast<uint32_t>(b[2]) << 8) | b[3];
}

// The flow hash of an Ethernet frame, as Track() computes it from the decoded packet, for the common shapes only
// (up to two VLAN tags, IPv4 without fragments, IPv6 without extension headers, TCP or UDP). Anything else, or a
// frame the decoder would read otherwise, gives a hash of no session: a prefetch in vain, never a wrong result,
// since the hash only chooses what to prefetch. Every read is within [frame, frame + length).
struct Peeked {
  uint32_t hash;
  bool v4;
  uint32_t src, dst, sport, dport, proto;
};

bool PeekHash(const Tracker* t, const uint8_t* f, size_t length, Peeked* out) {
  if (length < 14) return false;
  size_t o = 12;
  uint32_t type = Be16(f + o), vlan0 = 0, vlan1 = 0;
  int tags = 0;
  while ((type == 0x8100 || type == 0x88a8) && tags < 2) {
    if (length < o + 6) return false;
    uint32_t vid = Be16(f + o + 2) & 0x0fff;
    if (tags == 0) vlan0 = vid; else vlan1 = vid;
    tags++;
    o += 4;
    type = Be16(f + o);
  }
  o += 2;
  // The addresses as four words each; an IPv4 flow's hash reads only the last (w[3], w[7]).
  uint32_t proto, w[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t l4;
  bool v4 = type == 0x0800;
  if (v4) {
    if (length < o + 20) return false;
    const uint8_t* ip = f + o;
    if ((ip[0] >> 4) != 4 || (Be16(ip + 6) & 0x3fff) != 0) return false;
    proto = ip[9];
    w[3] = Be32(ip + 12);
    w[7] = Be32(ip + 16);
    l4 = o + (ip[0] & 0x0f) * 4u;
  } else if (type == 0x86dd) {
    if (length < o + 40) return false;
    const uint8_t* ip = f + o;
    proto = ip[6];
    for (int k = 0; k < 4; k++) {
      w[k] = Be32(ip + 8 + 4 * k);
      w[4 + k] = Be32(ip + 24 + 4 * k);
    }
    l4 = o + 40;
  } else {
    return false;
  }
  if ((proto != PROTO_TCP && proto != PROTO_UDP) || length < l4 + 4) return false;
  uint32_t sport = Be16(f + l4), dport = Be16(f + l4 + 2);
  uint32_t meta = (proto << 24) | (t->vlanTracking ? (vlan0 << 12) | vlan1 : 0);
  out->hash = v4 ? mixEndpoints(endpointHashV4(w[3], sport), endpointHashV4(w[7], dport), meta)
                : mixEndpoints(endpointHash(w[0], w[1], w[2], w[3], sport), endpointHash(w[4], w[5], w[6], w[7], dport), meta);
  out->v4 = v4;
  out->src = w[3];
  out->dst = w[7];
  out->sport = sport;
  out->dport = dport;
  out->proto = proto;
  return true;
}

// Software pipelining across calls, as VPP and DPDK do across a vector: a packet's index slot is prefetched two calls
// before its own, and its row one call before (the slot has arrived by then and names the row). JavaScript has no
// prefetch, and a plain load that misses stalls the core, which is why this lives here. The source passes where the
// packet after next lies in its buffer (P_AHEAD_OFFSET); without one, nothing is prefetched.
void Prefetch(Tracker* t) {
  uint32_t* p = t->packet;
  if (t->pending) {
    // The packet after this one: its slot was prefetched by the previous call. Fetch the row of the first entry
    // with its hash (almost always the home slot's); if the probe ends first, its flow is new, and what the intel
    // screen will read for it is fetched instead.
    uint32_t slot = t->pendingHash & t->slotMask;
    for (int k = 0; k < 2; k++, slot = (slot + 1) & t->slotMask) {
      int32_t entry = t->slots[2 * slot + 1];
      if (entry == 0) {
        const IntelScreen& screen = t->screen;
        if (t->pendingV4 && screen.loaded && screen.words[SW_ON] != 0) {
          ScreenPrefetchV4(screen, t->pendingSrc, t->pendingSport, t->pendingProto);
          ScreenPrefetchV4(screen, t->pendingDst, t->pendingDport, t->pendingProto);
        }
        break;
      }
      if (static_cast<uint32_t>(t->slots[2 * slot]) != t->pendingHash || static_cast<uint32_t>(entry - 1) >= t->capacity) continue;
      const uint32_t* row = t->rows + static_cast<size_t>(entry - 1) * ROW_WORDS;
      __builtin_prefetch(row, 1);
      __builtin_prefetch(row + 16, 1);
      __builtin_prefetch(row + 32, 1);
      __builtin_prefetch(row + ROW_WORDS - 1, 1);
      break;
    }
  }
  t->pending = false;
  uint32_t offset = p[P_AHEAD_OFFSET], length = p[P_AHEAD_LENGTH];
  // A hint serves once: a packet given none (the table below the engine's threshold again) must not re-hash this one.
  p[P_AHEAD_LENGTH] = 0;
  if (t->ahead == nullptr || offset >= t->aheadLength || length == 0) return;
  if (length > t->aheadLength - offset) length = static_cast<uint32_t>(t->aheadLength - offset);
  Peeked peek;
  if (!PeekHash(t, t->ahead + offset, length, &peek)) return;
  __builtin_prefetch(t->slots + 2 * (peek.hash & t->slotMask), 1);
  t->pendingHash = peek.hash;
  t->pending = true;
  t->pendingV4 = peek.v4;
  t->pendingSrc = peek.src;
  t->pendingDst = peek.dst;
  t->pendingSport = peek.sport;
  t->pendingDport = peek.dport;
  t->pendingProto = peek.proto;
}

// Returns session * 8 + settled * 4 + created * 2 + direction, or kSlowPath with nothing changed. `settled`: the
// intel screen is current and the session was matched at the set's version, with no verdict and no response under
// way (session-table.ts settled()), so the packet needs nothing of the match stage, unless a hold-down applies to
// a new session; the engine then reads no more of the row or the set.
int32_t Track(Tracker* t) {
  const uint32_t* p = t->packet;
  uint32_t* rows = t->rows;
  double* rowsF64 = t->rowsF64;
  int32_t* slots = t->slots;
  const uint32_t slotMask = t->slotMask;
  uint32_t src0 = p[P_SRC], src1 = p[P_SRC + 1], src2 = p[P_SRC + 2], src3 = p[P_SRC + 3];
  uint32_t dst0 = p[P_DST], dst1 = p[P_DST + 1], dst2 = p[P_DST + 2], dst3 = p[P_DST + 3];
  uint32_t sport = p[P_SPORT], dport = p[P_DPORT], proto = p[P_PROTO], flags = p[P_FLAGS], seq = p[P_SEQ];
  bool v4 = p[P_IPVER] == 4;
  double ts = *t->packetTs;
  uint32_t frameVlan = (p[P_VLAN0] << 12) | p[P_VLAN1];
  uint32_t meta = (proto << 24) | (t->vlanTracking ? frameVlan : 0);
  uint32_t forward = (sport << 16) | dport, reverse = (dport << 16) | sport, family = v4 ? FLAG_IPV4 : 0;
  uint32_t h = v4 ? mixEndpoints(endpointHashV4(src3, sport), endpointHashV4(dst3, dport), meta)
                  : mixEndpoints(endpointHash(src0, src1, src2, src3, sport),
                                 endpointHash(dst0, dst1, dst2, dst3, dport), meta);
  int64_t session = -1;
  uint32_t dir = 0;
  uint32_t slot = h & slotMask;
  for (;; slot = (slot + 1) & slotMask) {
    int32_t entry = slots[2 * slot + 1];
    if (entry == 0) break;
    if (static_cast<uint32_t>(slots[2 * slot]) != h) continue;
    uint32_t s = static_cast<uint32_t>(entry - 1), r = s * ROW_WORDS;
    if (s >= t->capacity) return kSlowPath;
    // The family is part of the key: an IPv6 packet between IPv4-mapped addresses is not the IPv4 flow.
    if (rows[r + W_META] != meta || (rows[r + W_INFO] & FLAG_IPV4) != family) continue;
    uint32_t ports = rows[r + W_PORTS];
    if (ports == forward && rows[r + 3] == src3 && rows[r + 7] == dst3 &&
        (v4 || (rows[r] == src0 && rows[r + 1] == src1 && rows[r + 2] == src2 && rows[r + 4] == dst0 &&
                rows[r + 5] == dst1 && rows[r + 6] == dst2))) {
      session = s;
      dir = 0;
      break;
    }
    if (ports == reverse && rows[r + 3] == dst3 && rows[r + 7] == src3 &&
        (v4 || (rows[r] == dst0 && rows[r + 1] == dst1 && rows[r + 2] == dst2 && rows[r + 4] == src0 &&
                rows[r + 5] == src1 && rows[r + 6] == src2))) {
      session = s;
      dir = 1;
      break;
    }
  }

  uint32_t created = 0;
  if (session >= 0) {
    // A SYN whose sequence number differs from the one recorded for that direction starts a new connection on the
    // same ports (session-table.ts isNewConnection): ending the old session calls back into TypeScript.
    uint32_t d = static_cast<uint32_t>(session) * ROW_WORDS + W_DIR + dir * DIR_WORDS;
    if (proto == PROTO_TCP && (flags & (SYN | ACK | RST)) == SYN && (rows[d + D_STATE] & DIR_HAS_ISN) != 0 &&
        rows[d + D_ISN] != seq) {
      return kSlowPath;
    }
  } else {
    int32_t* state = t->state;
    // A full table evicts first, which ends a session: TypeScript's to do.
    int32_t freeCount = state[ST_FREE_COUNT];
    if (freeCount <= 0 || freeCount > static_cast<int64_t>(t->capacity)) return kSlowPath;
    uint32_t s = static_cast<uint32_t>(t->freeList[freeCount - 1]);
    if (s >= t->capacity) return kSlowPath;
    state[ST_FREE_COUNT] = freeCount - 1;
    // A SYN-ACK seen first means we missed the SYN: its destination started the connection.
    bool swap = proto == PROTO_TCP && (flags & (SYN | ACK)) == (SYN | ACK);
    if (static_cast<int32_t>(s) >= state[ST_HIGH_WATER]) state[ST_HIGH_WATER] = static_cast<int32_t>(s) + 1;
    uint32_t r = s * ROW_WORDS;
    memset(rows + r, 0, ROW_WORDS * 4);
    const uint32_t a[8] = {src0, src1, src2, src3, dst0, dst1, dst2, dst3};
    for (int k = 0; k < 8; k++) rows[r + k] = a[swap ? (k + 4) & 7 : k];
    rows[r + W_PORTS] = swap ? reverse : forward;
    rows[r + W_META] = meta;
    rows[r + W_HASH] = h;
    rows[r + W_INFO] = family | (NOT_QUEUED << 8);
    rows[r + W_VERDICT_VERSION] = NO_VERDICT_VERSION;
    rows[r + W_VERDICT] = NO_VERDICT;
    rowsF64[(r + W_FIRST_TS) >> 1] = ts;
    rowsF64[(r + W_LAST_TS) >> 1] = ts;
    // The probe stopped at an empty slot, and nothing has been removed since: the session goes there.
    slots[2 * slot] = static_cast<int32_t>(h);
    slots[2 * slot + 1] = static_cast<int32_t>(s) + 1;
    if (++state[ST_ACTIVE] > state[ST_PEAK_ACTIVE]) state[ST_PEAK_ACTIVE] = state[ST_ACTIVE];
    t->created[proto == PROTO_TCP ? 0 : proto == PROTO_UDP ? 1 : 2] += 1;
    // The intel screen settles the session's verdict when no entry could apply to either endpoint: the match
    // stage's settled() then holds from this packet on, until the set changes (SessionMatcher.refresh's no-match).
    const IntelScreen& screen = t->screen;
    if (ScreenCurrent(screen) &&
        (v4 ? ScreenCleanV4(screen, src3, sport, proto) && ScreenCleanV4(screen, dst3, dport, proto)
            : ScreenCleanV6(screen, p + P_SRC, sport, proto) && ScreenCleanV6(screen, p + P_DST, dport, proto))) {
      rows[r + W_VERDICT_VERSION] = static_cast<uint32_t>(screen.words[SW_STAMP]);
      *screen.screened += 1;
    }
    session = s;
    dir = swap ? 1 : 0;
    created = 1;
  }

  uint32_t r = static_cast<uint32_t>(session) * ROW_WORDS, d = r + W_DIR + dir * DIR_WORDS;
  rowsF64[(d + D_PACKETS) >> 1] += 1;
  rowsF64[(d + D_BYTES) >> 1] += p[P_FRAME_BYTES];
  uint32_t before = rows[d + D_STATE];
  rows[d + D_STATE] = (before & 0xff00ffffu) | DIR_SEEN | (p[P_TTL] << 16);
  rows[d + D_VLAN] = frameVlan;
  rowsF64[(r + W_LAST_TS) >> 1] = ts;
  bool stateChanged = false;
  if (proto == PROTO_TCP) {
    uint32_t end = seq + p[P_PAYLOAD], word = rows[d + D_STATE], ack = p[P_ACK];
    uint32_t st = word & 0xff, next = st;
    if (flags & SYN) {
      end++;
      if (!(word & DIR_HAS_ISN)) {
        rows[d + D_ISN] = seq;
        word = (word & 0x00ffffffu) | DIR_HAS_ISN | ((p[P_WSCALE] + 1) << 24);
      }
      if (st < T_ESTABLISHED) next = (flags & ACK) ? T_SYN_ACK : T_SYN;
    } else if (flags & RST) {
      next = T_RST;
    } else if (st != T_RST) {
      if (flags & FIN) {
        next = T_FIN;
        end++;
      } else if (st < T_ESTABLISHED && (flags & ACK)) {
        next = T_ESTABLISHED;
      }
    }
    if (!(before & DIR_SEEN) || static_cast<int32_t>(end - rows[d + D_NXT]) > 0) rows[d + D_NXT] = end;
    if (flags & ACK) {
      if (!(word & DIR_HAS_ACK) || static_cast<int32_t>(ack - rows[d + D_LAST_ACK]) > 0) rows[d + D_LAST_ACK] = ack;
      word |= DIR_HAS_ACK;
    }
    if (!(flags & RST)) rows[d + D_WINDOW] = p[P_WINDOW];
    rows[d + D_STATE] = (word & 0xffffff00u) | next;
    stateChanged = ((rows[d + D_STATE] ^ before) & 0xff) != 0;
  }
  // As in track(): only a first packet in a direction or a TCP state change can change the session's class.
  if (!(before & DIR_SEEN) || stateChanged) {
    uint32_t s = static_cast<uint32_t>(session);
    int cls = sessionClassOf(rows, s);
    if (cls != static_cast<int>((rows[r + W_INFO] >> 8) & 0xff)) {
      unlinkSession(t, s);
      rowsF64[(r + W_QUEUED_TS) >> 1] = ts;
      append(t, cls, s);
    }
  }
  const IntelScreen& screen = t->screen;
  uint32_t settled = ScreenCurrent(screen) && rows[r + W_VERDICT_VERSION] == static_cast<uint32_t>(screen.words[SW_STAMP]) &&
                     rows[r + W_VERDICT] == NO_VERDICT && (rows[r + W_INFO] & FLAG_RESPONDING) == 0;
  return static_cast<int32_t>(session * 8 + settled * 4 + created * 2 + dir);
}

// Raw Node-API rather than node-addon-api: this runs once a packet, and the wrapper's CallbackInfo costs more than
// the call itself. The result goes to a state word rather than a return value: making a number handle costs about
// 4.5 ns of a 13 ns call (measured), the function returns undefined.
napi_value TrackCallback(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  Tracker* t = static_cast<Tracker*>(data);
  Prefetch(t);
  t->state[ST_RESULT] = Track(t);
  return nullptr;
}

// setAhead(buffer: Uint8Array | null): the buffer the packet record's look-ahead offsets point into.
napi_value SetAheadCallback(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, &data);
  Tracker* t = static_cast<Tracker*>(data);
  if (t->aheadRef != nullptr) napi_delete_reference(env, t->aheadRef);
  t->aheadRef = nullptr;
  t->ahead = nullptr;
  t->aheadLength = 0;
  t->pending = false;
  bool isTypedArray = false;
  if (argc >= 1) napi_is_typedarray(env, arg, &isTypedArray);
  if (!isTypedArray) return nullptr;
  napi_typedarray_type type;
  size_t length, byteOffset;
  void* bytes;
  napi_value buffer;
  if (napi_get_typedarray_info(env, arg, &type, &length, &bytes, &buffer, &byteOffset) != napi_ok ||
      type != napi_uint8_array || napi_create_reference(env, arg, 1, &t->aheadRef) != napi_ok) {
    t->aheadRef = nullptr;
    return nullptr;
  }
  // Read only while the reference holds the buffer.
  t->ahead = static_cast<const uint8_t*>(bytes);
  t->aheadLength = length;
  return nullptr;
}

// setIntel(tables | null): loads the intel screen's tables (src/match/native-screen.ts), or unloads it. Throws a
// TypeError for a malformed descriptor, leaving the screen unloaded.
napi_value SetIntelCallback(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg = nullptr;
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, &data);
  Tracker* t = static_cast<Tracker*>(data);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  ScreenLoad(Napi::Env(env), t->screen, Napi::Value(env, argc >= 1 ? arg : undefined));
  return nullptr;
}

void FinalizeTracker(napi_env env, void* data, void* hint) {
  Tracker* t = static_cast<Tracker*>(data);
  if (--t->owners > 0) return;
  ScreenUnload(env, t->screen);
  for (int i = 0; i < t->refCount; i++) napi_delete_reference(env, t->refs[i]);
  if (t->aheadRef != nullptr) napi_delete_reference(env, t->aheadRef);
  delete t;
}

// The typed array `name` of `options`, of element type `type` with at least `minLength` elements; its data pointer,
// kept alive by a reference the tracker holds. Sets a JS TypeError and returns nullptr otherwise.
void* TypedArrayData(Napi::Env env, Tracker* t, Napi::Object options, const char* name, napi_typedarray_type type,
                     size_t minLength) {
  std::string label = std::string("createSessionTracker: ") + name;
  if (t->refCount >= Tracker::kMaxRefs) {
    Napi::TypeError::New(env, label + " cannot be kept (too many arrays)").ThrowAsJavaScriptException();
    return nullptr;
  }
  // Doubles are read from the rows and the counters: every array must start on an 8-byte boundary.
  void* data = KeepTypedArray(env, options, name, type, minLength, 8, label,
                              "must be a typed array of the table's type and size (a mismatched build of native-bindings?)",
                              &t->refs[t->refCount]);
  if (data != nullptr) t->refCount++;
  return data;
}

}  // namespace

Napi::Value CreateSessionTracker(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "createSessionTracker(options)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  // A getter that throws leaves an exception pending: return at once rather than throw a second one.
  uint32_t layout = o.Get("layout").ToNumber().Uint32Value();
  if (env.IsExceptionPending()) return env.Undefined();
  if (layout != kLayoutVersion) {
    Napi::TypeError::New(env, "createSessionTracker: layout " + std::to_string(layout) + ", this build has " +
                                  std::to_string(kLayoutVersion) + " (rebuild native-bindings)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double capacityValue = o.Get("capacity").ToNumber().DoubleValue();
  double slotCountValue = o.Get("slotCount").ToNumber().DoubleValue();
  bool vlanTracking = o.Get("vlanTracking").ToBoolean().Value();
  if (env.IsExceptionPending()) return env.Undefined();
  // The index must stay at most half full (SessionTable's slotCount), or a probe could find no empty slot.
  if (!(capacityValue >= 1 && capacityValue <= 50000000) || std::floor(capacityValue) != capacityValue ||
      !(slotCountValue >= 2 * capacityValue && slotCountValue <= (1u << 30)) ||
      (static_cast<uint32_t>(slotCountValue) & (static_cast<uint32_t>(slotCountValue) - 1)) != 0) {
    Napi::TypeError::New(env, "createSessionTracker: capacity or slotCount out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t capacity = static_cast<size_t>(capacityValue);
  uint32_t slotCount = static_cast<uint32_t>(slotCountValue);
  Tracker* t = new Tracker();
  t->owners = 1;
  t->capacity = static_cast<uint32_t>(capacity);
  t->slotMask = slotCount - 1;
  t->vlanTracking = vlanTracking;
  bool ok =
      (t->slots = static_cast<int32_t*>(TypedArrayData(env, t, o, "slots", napi_int32_array, size_t(slotCount) * 2))) &&
      (t->rows = static_cast<uint32_t*>(TypedArrayData(env, t, o, "rows", napi_uint32_array, capacity * ROW_WORDS))) &&
      (t->listHead = static_cast<int32_t*>(TypedArrayData(env, t, o, "listHead", napi_int32_array, CLASSES))) &&
      (t->listTail = static_cast<int32_t*>(TypedArrayData(env, t, o, "listTail", napi_int32_array, CLASSES))) &&
      (t->listSize = static_cast<int32_t*>(TypedArrayData(env, t, o, "listSize", napi_int32_array, CLASSES))) &&
      (t->freeList = static_cast<int32_t*>(TypedArrayData(env, t, o, "freeList", napi_int32_array, capacity))) &&
      (t->created = static_cast<double*>(TypedArrayData(env, t, o, "created", napi_float64_array, 3))) &&
      (t->packet = static_cast<uint32_t*>(TypedArrayData(env, t, o, "packet", napi_uint32_array, PACKET_WORDS))) &&
      (t->packetTs = static_cast<const double*>(TypedArrayData(env, t, o, "packetTs", napi_float64_array, 1))) &&
      (t->state = static_cast<int32_t*>(TypedArrayData(env, t, o, "state", napi_int32_array, STATE_WORDS)));
  if (!ok) {
    FinalizeTracker(env, t, nullptr);
    return env.Undefined();
  }
  // The rows are also read as doubles (timestamps, counters), as session-table.ts's rowsF64 view does.
  t->rowsF64 = reinterpret_cast<double*>(t->rows);
  napi_value track, setAhead;
  if (napi_create_function(env, "track", NAPI_AUTO_LENGTH, TrackCallback, t, &track) != napi_ok ||
      napi_add_finalizer(env, track, t, FinalizeTracker, nullptr, nullptr) != napi_ok) {
    FinalizeTracker(env, t, nullptr);
    Napi::Error::New(env, "createSessionTracker: cannot create the track function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // setAhead shares the tracker, which lives until both functions are collected.
  if (napi_create_function(env, "setAhead", NAPI_AUTO_LENGTH, SetAheadCallback, t, &setAhead) != napi_ok ||
      napi_add_finalizer(env, setAhead, t, FinalizeTracker, nullptr, nullptr) != napi_ok) {
    Napi::Error::New(env, "createSessionTracker: cannot create the setAhead function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  t->owners++;
  napi_value setIntel;
  if (napi_create_function(env, "setIntel", NAPI_AUTO_LENGTH, SetIntelCallback, t, &setIntel) != napi_ok ||
      napi_add_finalizer(env, setIntel, t, FinalizeTracker, nullptr, nullptr) != napi_ok) {
    Napi::Error::New(env, "createSessionTracker: cannot create the setIntel function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  t->owners++;
  Napi::Object result = Napi::Object::New(env);
  result.Set("track", Napi::Value(env, track));
  result.Set("setAhead", Napi::Value(env, setAhead));
  result.Set("setIntel", Napi::Value(env, setIntel));
  return result;
}

}  // namespace offpath
