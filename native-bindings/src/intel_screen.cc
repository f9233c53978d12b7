// The intel screen: when the session tracker creates a session, it proves here that no intel entry could apply to either
// endpoint, and if so settles the session's verdict itself (no match, at the set's current version). Any key found,
// live or expired, allow or block, leaves the session unsettled: the TypeScript matcher decides it on the same packet,
// as it decides every session the screen does not settle (a set whose tables are growing, the screen off, the
// TypeScript path). So the screen can only spare the matcher work, never decide a match; src/match/native-screen.ts
// keeps it in step with the set, and test/unit/intel-screen.test.ts checks it against IntelSet.matchV4 and matchV6.
//
// Why: in the replay of a million flows against a million indicators, SessionMatcher's stage cost 9-13 % of the replay
// for sessions it found clean, most of it the stage's own code around lookups answered from cache, and the lookups
// that reach a table's miss filter wait for a line the session table has pushed out (test/bench/HISTORY.md, session
// 18). Here the check costs a few loads, and the tracker prefetches the filter lines with the session's row.
#include "intel_screen.h"

#include "common.h"

#include <cmath>
#include <string>

namespace offpath {
namespace {

// The typed array `name` of `o`, of element type `type` and at least `minLength` elements, its data on an
// `alignment`-byte boundary, kept alive by a reference appended to `refs`. Sets a JS TypeError and returns nullptr
// otherwise.
const void* Keep(Napi::Env env, std::vector<napi_ref>& refs, Napi::Object o, const std::string& what, const char* name,
                 napi_typedarray_type type, size_t minLength, size_t alignment = 4) {
  napi_ref ref;
  const void* data = KeepTypedArray(env, o, name, type, minLength, alignment, "setIntel: " + what + "." + name,
                                    "is not a typed array of the expected type and size", &ref);
  if (data != nullptr) refs.push_back(ref);
  return data;
}

// `value` as a table's object, with its capacity: an integer the tables can have (u32-table.ts's MIN_CAPACITY and up).
bool Table(Napi::Env env, Napi::Value value, const std::string& what, Napi::Object* o, uint32_t* capacity) {
  if (env.IsExceptionPending()) return false;
  if (!value.IsObject()) {
    Napi::TypeError::New(env, "setIntel: " + what + " is not a table").ThrowAsJavaScriptException();
    return false;
  }
  *o = value.As<Napi::Object>();
  double c = o->Get("capacity").ToNumber().DoubleValue();
  if (env.IsExceptionPending()) return false;
  if (!(c >= 1 && c <= (1u << 30)) || std::floor(c) != c) {
    Napi::TypeError::New(env, "setIntel: " + what + ".capacity out of range").ThrowAsJavaScriptException();
    return false;
  }
  *capacity = static_cast<uint32_t>(c);
  return true;
}

bool LoadU32(Napi::Env env, std::vector<napi_ref>& refs, Napi::Value value, const std::string& what,
             IntelU32View* out) {
  Napi::Object o;
  uint32_t capacity;
  if (!Table(env, value, what, &o, &capacity)) return false;
  size_t filterWords = (static_cast<size_t>(capacity) * INTEL_FILTER_BITS_PER_SLOT + 31) / 32;
  out->slots = static_cast<const int32_t*>(Keep(env, refs, o, what, "slots", napi_int32_array, size_t(capacity) * 2));
  if (out->slots == nullptr) return false;
  out->filter = static_cast<const int32_t*>(Keep(env, refs, o, what, "filter", napi_int32_array, filterWords));
  if (out->filter == nullptr) return false;
  out->capacity = capacity;
  out->filterScale = intelFilterScale(capacity);
  return true;
}

bool LoadWide(Napi::Env env, std::vector<napi_ref>& refs, Napi::Value value, const std::string& what, uint32_t width,
              IntelWideView* out) {
  Napi::Object o;
  uint32_t capacity;
  if (!Table(env, value, what, &o, &capacity)) return false;
  double w = o.Get("width").ToNumber().DoubleValue();
  if (env.IsExceptionPending()) return false;
  if (w != width) {
    Napi::TypeError::New(env, "setIntel: " + what + ".width is not " + std::to_string(width)).ThrowAsJavaScriptException();
    return false;
  }
  out->slots = static_cast<const int32_t*>(Keep(env, refs, o, what, "slots", napi_int32_array, size_t(capacity) * (width + 1)));
  if (out->slots == nullptr) return false;
  out->capacity = capacity;
  out->width = width;
  out->scale = intelScale(capacity);
  return true;
}

void DeleteRefs(napi_env env, std::vector<napi_ref>& refs) {
  for (napi_ref ref : refs) napi_delete_reference(env, ref);
  refs.clear();
}

}  // namespace

bool ScreenCleanV4(const IntelScreen& screen, uint32_t ip, uint32_t port, uint32_t proto) {
  const int32_t* w = screen.words;
  // IntelSet.matchV4General, key for key; its fast path is the case of no port entries and no CIDRs.
  if (port != 0 && w[SW_PORT4_SIZE] != 0) {
    uint32_t pc = proto == 6 ? 1 : proto == 17 ? 2 : 0;
    uint32_t key[2] = {ip, port | (pc << 16)};
    if (pc != 0 && intelWideMayHold(&screen.port4, key)) return false;
    key[1] = port;
    if (intelWideMayHold(&screen.port4, key)) return false;
  }
  if (screen.exact16[ip >> 16] != 0 && intelU32MayHold(&screen.v4, ip)) return false;
  uint32_t mask = static_cast<uint32_t>(w[SW_CIDR4_MASK]) & static_cast<uint32_t>(screen.summary16[ip >> 16]);
  while (mask != 0) {
    int len = 31 - __builtin_clz(mask);
    mask ^= 1u << len;
    uint32_t network = len == 0 ? 0 : ip & (0xffffffffu << (32 - len));
    if (intelU32MayHold(&screen.cidr4[len], network)) return false;
  }
  return true;
}

// The /16 summaries are few lines that the addresses a network uses keep in cache; the lines worth fetching ahead are
// the ones a million keys spread over: the exact table's filter word (only when the /16 holds exact keys), and the
// home record of the port table's first key.
bool ScreenCleanV6(const IntelScreen& screen, const uint32_t* a, uint32_t port, uint32_t proto) {
  const int32_t* w = screen.words;
  // IntelSet.matchV6General, key for key; its fast path is the case of no port entries and no CIDRs.
  if (port != 0 && w[SW_PORT6_SIZE] != 0) {
    uint32_t pc = proto == 6 ? 1 : proto == 17 ? 2 : 0;
    uint32_t key[5] = {a[0], a[1], a[2], a[3], port | (pc << 16)};
    if (pc != 0 && intelWideMayHold(&screen.port6, key)) return false;
    key[4] = port;
    if (intelWideMayHold(&screen.port6, key)) return false;
  }
  if (w[SW_V6_SIZE] != 0 && intelWideMayHold(&screen.v6, a)) return false;
  for (int word = 3; word >= 0; word--) {
    uint32_t mask = static_cast<uint32_t>(w[SW_CIDR6_MASK + word]);
    while (mask != 0) {
      int bit = 31 - __builtin_clz(mask);
      mask ^= 1u << bit;
      uint32_t len = static_cast<uint32_t>(word << 5 | bit);
      uint32_t key[4];
      for (uint32_t k = 0; k < 4; k++) key[k] = a[k] & intelMask6(len, k);
      if (intelWideMayHold(&screen.cidr6[len], key)) return false;
    }
  }
  return true;
}

void ScreenPrefetchV4(const IntelScreen& screen, uint32_t ip, uint32_t port, uint32_t proto) {
  if (screen.exact16[ip >> 16] != 0) {
    const IntelU32View& v4 = screen.v4;
    __builtin_prefetch(v4.filter + (intelFilterBit(&v4, intelHashWord(ip)) >> 5));
  }
  if (port != 0 && screen.words[SW_PORT4_SIZE] != 0) {
    const IntelWideView& p4 = screen.port4;
    uint32_t pc = proto == 6 ? 1 : proto == 17 ? 2 : 0;
    uint32_t h = intelHashWord(intelMixWord(intelMixWord(INTEL_WIDE_SEED, ip), pc != 0 ? port | (pc << 16) : port));
    __builtin_prefetch(p4.slots + 3 * static_cast<size_t>(static_cast<double>(h) * p4.scale));
  }
}

// The array `name` of `o`, of exactly `count` tables (one per prefix length), each taken by load(table, label, i).
template <typename Load>
bool LoadTables(Napi::Env env, Napi::Object o, const char* name, uint32_t count, Load load) {
  Napi::Value tables = o.Get(name);
  if (env.IsExceptionPending()) return false;
  if (!tables.IsArray() || tables.As<Napi::Array>().Length() != count) {
    Napi::TypeError::New(env, std::string("setIntel: ") + name + " must hold " + std::to_string(count) + " tables")
        .ThrowAsJavaScriptException();
    return false;
  }
  for (uint32_t i = 0; i < count; i++) {
    if (!load(tables.As<Napi::Array>().Get(i), std::string(name) + "[" + std::to_string(i) + "]", i)) return false;
  }
  return true;
}

bool ScreenLoad(Napi::Env env, IntelScreen& screen, Napi::Value descriptor) {
  if (descriptor.IsNull() || descriptor.IsUndefined()) {
    ScreenUnload(env, screen);
    return true;
  }
  IntelScreen next;
  bool ok = descriptor.IsObject();
  if (!ok) Napi::TypeError::New(env, "setIntel(tables | null)").ThrowAsJavaScriptException();
  Napi::Object o = ok ? descriptor.As<Napi::Object>() : Napi::Object();
  ok = ok &&
       (next.words = static_cast<const int32_t*>(Keep(env, next.refs, o, "tables", "words", napi_int32_array, SCREEN_WORDS))) &&
       (next.epoch = static_cast<const int32_t*>(Keep(env, next.refs, o, "tables", "epoch", napi_int32_array, 1))) &&
       // A double: 8-byte aligned.
       (next.screened = static_cast<double*>(const_cast<void*>(Keep(env, next.refs, o, "tables", "screened", napi_float64_array, 1, 8)))) &&
       (next.exact16 = static_cast<const uint8_t*>(Keep(env, next.refs, o, "tables", "exact16", napi_uint8_array, 65536))) &&
       (next.summary16 = static_cast<const int32_t*>(Keep(env, next.refs, o, "tables", "summary16", napi_int32_array, 65536))) &&
       LoadU32(env, next.refs, o.Get("v4"), "v4", &next.v4) &&
       LoadWide(env, next.refs, o.Get("port4"), "port4", 2, &next.port4) &&
       LoadWide(env, next.refs, o.Get("v6"), "v6", 4, &next.v6) &&
       LoadWide(env, next.refs, o.Get("port6"), "port6", 5, &next.port6) &&
       LoadTables(env, o, "cidr4", 32, [&](Napi::Value table, const std::string& what, uint32_t len) {
         return LoadU32(env, next.refs, table, what, &next.cidr4[len]);
       }) &&
       LoadTables(env, o, "cidr6", 128, [&](Napi::Value table, const std::string& what, uint32_t len) {
         return LoadWide(env, next.refs, table, what, 4, &next.cidr6[len]);
       });
  if (!ok) {
    DeleteRefs(env, next.refs);
    ScreenUnload(env, screen);
    return false;
  }
  ScreenUnload(env, screen);
  next.loaded = true;
  screen = std::move(next);
  return true;
}

void ScreenUnload(napi_env env, IntelScreen& screen) {
  DeleteRefs(env, screen.refs);
  screen = IntelScreen();
}

}  // namespace offpath
