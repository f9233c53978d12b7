// The native intel screen (intel_screen.cc): the session tracker's check that no intel entry could apply to either
// endpoint of a new session, on the intel set's own typed arrays.
#pragma once

#include <napi.h>
#include <stdint.h>

#include <vector>

#include "intel_rules.h"

namespace offpath {

// The screen's words (Int32Array, written by src/match/native-screen.ts): whether to screen new sessions, the verdict
// stamp to give a screened one, the scalars of the set that matchV4 and matchV6 read besides its arrays, and the
// set's lookup epoch they were written at.
enum { SW_ON, SW_STAMP, SW_CIDR4_MASK, SW_PORT4_SIZE, SW_V6_SIZE, SW_PORT6_SIZE, SW_CIDR6_MASK, SW_EPOCH = SW_CIDR6_MASK + 4,
       SCREEN_WORDS };

struct IntelScreen {
  bool loaded = false;
  const uint8_t* exact16 = nullptr;
  const int32_t* summary16 = nullptr;
  IntelU32View v4{};
  IntelWideView port4{};
  IntelU32View cidr4[32]{};
  IntelWideView v6{};
  IntelWideView port6{};
  IntelWideView cidr6[128]{};
  const int32_t* words = nullptr;
  // The set's live lookup epoch (IntelSet.epochWord), which every change of the set bumps.
  const int32_t* epoch = nullptr;
  double* screened = nullptr;
  std::vector<napi_ref> refs;
};

// Whether the words and arrays describe the set as it is now: screening on, and no change of the set since the last
// sync. When false, nothing may be concluded from the screen; TypeScript syncs it on the next packet it sees.
inline bool ScreenCurrent(const IntelScreen& screen) {
  return screen.loaded && screen.words[SW_ON] != 0 && screen.words[SW_EPOCH] == *screen.epoch;
}

// Whether no entry of the set could apply to the IPv4 endpoint (ip, port) of a session of protocol `proto`: true only
// when IntelSet.matchV4(ip, port, proto) finds no key in any table it consults. Call only when screen.loaded.
bool ScreenCleanV4(const IntelScreen& screen, uint32_t ip, uint32_t port, uint32_t proto);

// The same for an IPv6 endpoint (IntelSet.matchV6), the address as four words, most significant first.
bool ScreenCleanV6(const IntelScreen& screen, const uint32_t* address, uint32_t port, uint32_t proto);

// Prefetches what ScreenCleanV4 will read first for that endpoint.
void ScreenPrefetchV4(const IntelScreen& screen, uint32_t ip, uint32_t port, uint32_t proto);

// Takes the tables from a descriptor (native-screen.ts's NativeIntelTables), or unloads the screen for null/undefined.
// Returns false with a JS TypeError pending when the descriptor is malformed (the screen is then unloaded).
bool ScreenLoad(Napi::Env env, IntelScreen& screen, Napi::Value descriptor);

// Drops the references the screen holds.
void ScreenUnload(napi_env env, IntelScreen& screen);

}  // namespace offpath
