/*
 * The session table's row layout, flow hash and TCP session classes, as src/session/ defines them
 * (session-layout.ts, session-table.ts's flowHash, tcp-state.ts, timeouts.ts), for the C++ per-packet path
 * (session_track.cc). Plain C, everything static inline, so that any C or C++ tool over the table's rows can include it.
 */
#ifndef OFFPATH_SESSION_RULES_H
#define OFFPATH_SESSION_RULES_H

#include <stdint.h>

/* Row layout (session-layout.ts): 42 words, doubles on even words. */
enum { ROW_WORDS = 42 };
enum { W_PORTS = 8, W_META = 9, W_HASH = 10, W_INFO = 11, W_PREV = 12, W_NEXT = 13, W_FIRST_TS = 14, W_LAST_TS = 16,
       W_QUEUED_TS = 18, W_DIR = 20, DIR_WORDS = 10, W_VERDICT_VERSION = 40, W_VERDICT = 41 };
enum { D_STATE = 0, D_VLAN = 1, D_WINDOW = 2, D_ISN = 3, D_NXT = 4, D_LAST_ACK = 5, D_PACKETS = 6, D_BYTES = 8 };
enum { FLAG_IPV4 = 1, FLAG_RESPONDING = 2 };
/* W_VERDICT of a session no entry applies to, and W_VERDICT_VERSION of one never matched (session-table.ts). */
static const uint32_t NO_VERDICT = 0xffffffffu;
static const uint32_t NO_VERDICT_VERSION = 0xffffffffu;
enum { DIR_SEEN = 1 << 8, DIR_HAS_ISN = 2 << 8, DIR_HAS_ACK = 4 << 8, NOT_QUEUED = 255, CLASSES = 8 };
enum { FIN = 1, SYN = 2, RST = 4, ACK = 16 };
enum { PROTO_TCP = 6, PROTO_UDP = 17 };
/* TcpDirState and SessionState (tcp-state.ts). */
enum { T_NONE, T_SYN, T_SYN_ACK, T_ESTABLISHED, T_FIN, T_RST };
enum { S_NEW, S_SYN_SENT, S_SYN_RECEIVED, S_ESTABLISHED, S_CLOSING, S_CLOSED, S_RESET, S_MIDSTREAM };
/* TimeoutClass (timeouts.ts). */
enum { C_TCP_CLOSED, C_TCP_HALF_OPEN, C_UDP_ONE_WAY, C_OTHER_ONE_WAY, C_TCP_CLOSING, C_UDP_TWO_WAY, C_OTHER_TWO_WAY,
       C_TCP_ESTABLISHED };

/* session-table.ts's endpointHashV4, endpointHash and mixEndpoints: a direction-independent flow hash. */
static inline uint32_t endpointHashV4(uint32_t w3, uint32_t port) {
  uint32_t h = w3 * 0xcc9e2d51u + port;
  return (h ^ (h >> 16)) * 0x1b873593u;
}

static inline uint32_t endpointHash(uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3, uint32_t port) {
  uint32_t h = (w3 ^ (w2 ^ (w1 ^ w0) * 0x2c1b3c6du) * 0x297a2d39u) * 0xcc9e2d51u + port;
  return (h ^ (h >> 16)) * 0x1b873593u;
}

static inline uint32_t mixEndpoints(uint32_t a, uint32_t b, uint32_t meta) {
  uint32_t h = ((a + b) ^ meta) * 0x9e3779b1u;
  h ^= h >> 15;
  h *= 0x85ebca6bu;
  return h ^ (h >> 13);
}

static inline int tcpSessionState(int i, int r) {
  if (i == T_RST || r == T_RST) return S_RESET;
  if (i == T_FIN && r == T_FIN) return S_CLOSED;
  if (i == T_FIN || r == T_FIN) return S_CLOSING;
  if (i == T_ESTABLISHED && r == T_ESTABLISHED) return S_ESTABLISHED;
  if (r == T_SYN_ACK) return i == T_ESTABLISHED ? S_ESTABLISHED : S_SYN_RECEIVED;
  if (i == T_SYN) return S_SYN_SENT;
  return S_MIDSTREAM;
}

/* session-table.ts's classOf: the timeout class of session s from its protocol and both directions' states. */
static inline int sessionClassOf(const uint32_t *rows, uint32_t s) {
  uint32_t r = s * ROW_WORDS, proto = rows[r + W_META] >> 24;
  uint32_t s0 = rows[r + W_DIR + D_STATE], s1 = rows[r + W_DIR + DIR_WORDS + D_STATE];
  int twoWay = (s0 & s1 & DIR_SEEN) != 0;
  if (proto == PROTO_TCP) {
    int st = tcpSessionState((int)(s0 & 0xff), (int)(s1 & 0xff));
    if (st == S_RESET || st == S_CLOSED) return C_TCP_CLOSED;
    if (st == S_CLOSING) return C_TCP_CLOSING;
    if (st == S_ESTABLISHED || (st == S_MIDSTREAM && twoWay)) return C_TCP_ESTABLISHED;
    return C_TCP_HALF_OPEN;
  }
  if (proto == PROTO_UDP) return twoWay ? C_UDP_TWO_WAY : C_UDP_ONE_WAY;
  return twoWay ? C_OTHER_TWO_WAY : C_OTHER_ONE_WAY;
}

#endif
