// Helpers shared by every part of the addon: typed errors for JavaScript and option parsing.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace offpath {

// Problem kinds, spelled as LiveCaptureProblem in src/capture/live/capture-errors.ts.
namespace problem {
constexpr const char* kNoSuchInterface = "no_such_interface";
constexpr const char* kPermission = "permission";
constexpr const char* kBadFilter = "bad_filter";
constexpr const char* kInterfaceDown = "interface_down";
constexpr const char* kFailed = "failed";
}  // namespace problem

// Maps an errno from a socket / ioctl / setns call to a problem kind.
const char* ProblemForErrno(int err);

// "what: strerror (ENAME)" — the errno name is kept so that logs can be grepped for it.
std::string ErrnoMessage(const std::string& what, int err);

// Throws (as a pending JS exception) an Error carrying `problem` and, for system errors, `errno`.
void ThrowCaptureError(Napi::Env env, const char* problem, const std::string& message, int err = 0);
void ThrowErrno(Napi::Env env, const std::string& what, int err);

// Option readers for the options object passed from TypeScript. They throw a TypeError / RangeError and return
// false when the value is missing or invalid; the TypeScript wrappers validate first, so these are a safety net.
bool ReadString(Napi::Object opts, const char* key, std::string* out, bool required);
bool ReadUint(Napi::Object opts, const char* key, uint32_t* out, uint32_t fallback, uint32_t min, uint32_t max);
bool ReadInt(Napi::Object opts, const char* key, int32_t* out, int32_t fallback, int32_t min, int32_t max);
bool ReadBool(Napi::Object opts, const char* key, bool* out, bool fallback);

// The typed array `name` of `options`, of element type `type` with at least `minLength` elements and its data on an
// `alignment`-byte boundary: returns its data, with a new reference to the array in *ref that keeps it alive.
// Otherwise returns nullptr with a JS TypeError pending: "<label> <mismatch>" for a wrong type or size (label names
// the field, mismatch says what the caller expects), "<label> is misaligned or cannot be kept" for the rest.
void* KeepTypedArray(Napi::Env env, Napi::Object options, const char* name, napi_typedarray_type type,
                     size_t minLength, size_t alignment, const std::string& label, const char* mismatch,
                     napi_ref* ref);

// Interface names are at most IFNAMSIZ-1 bytes and never contain '/' or whitespace.
bool ValidInterfaceName(const std::string& name);

}  // namespace offpath
