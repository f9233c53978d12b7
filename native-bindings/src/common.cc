#include "common.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>

namespace offpath {

const char* ProblemForErrno(int err) {
  switch (err) {
    case ENODEV:
    case ENXIO:
      return problem::kNoSuchInterface;
    case EPERM:
    case EACCES:
      return problem::kPermission;
    case ENETDOWN:
      return problem::kInterfaceDown;
    default:
      return problem::kFailed;
  }
}

std::string ErrnoMessage(const std::string& what, int err) {
  const char* name = strerrorname_np(err);
  std::string out = what + ": " + strerror(err);
  if (name != nullptr) out += std::string(" (") + name + ")";
  return out;
}

void ThrowCaptureError(Napi::Env env, const char* problem, const std::string& message, int err) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("problem", Napi::String::New(env, problem));
  if (err != 0) {
    error.Set("errno", Napi::Number::New(env, err));
    const char* name = strerrorname_np(err);
    if (name != nullptr) error.Set("errnoName", Napi::String::New(env, name));
  }
  error.ThrowAsJavaScriptException();
}

void ThrowErrno(Napi::Env env, const std::string& what, int err) {
  ThrowCaptureError(env, ProblemForErrno(err), ErrnoMessage(what, err), err);
}

bool ReadString(Napi::Object opts, const char* key, std::string* out, bool required) {
  Napi::Env env = opts.Env();
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (!required) return true;
    Napi::TypeError::New(env, std::string("option ") + key + " is required").ThrowAsJavaScriptException();
    return false;
  }
  if (!v.IsString()) {
    Napi::TypeError::New(env, std::string("option ") + key + " must be a string").ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

bool ReadUint(Napi::Object opts, const char* key, uint32_t* out, uint32_t fallback, uint32_t min, uint32_t max) {
  Napi::Env env = opts.Env();
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    *out = fallback;
    return true;
  }
  if (!v.IsNumber()) {
    Napi::TypeError::New(env, std::string("option ") + key + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != static_cast<double>(static_cast<uint64_t>(d))) {
    Napi::RangeError::New(env, std::string("option ") + key + " must be an integer in [" + std::to_string(min) + ", " +
                                   std::to_string(max) + "]")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

bool ReadInt(Napi::Object opts, const char* key, int32_t* out, int32_t fallback, int32_t min, int32_t max) {
  Napi::Env env = opts.Env();
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    *out = fallback;
    return true;
  }
  if (!v.IsNumber()) {
    Napi::TypeError::New(env, std::string("option ") + key + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != static_cast<double>(static_cast<int64_t>(d))) {
    Napi::RangeError::New(env, std::string("option ") + key + " must be an integer in [" + std::to_string(min) + ", " +
                                   std::to_string(max) + "]")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int32_t>(d);
  return true;
}

bool ReadBool(Napi::Object opts, const char* key, bool* out, bool fallback) {
  Napi::Env env = opts.Env();
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    *out = fallback;
    return true;
  }
  if (!v.IsBoolean()) {
    Napi::TypeError::New(env, std::string("option ") + key + " must be a boolean").ThrowAsJavaScriptException();
    return false;
  }
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

bool ValidInterfaceName(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return false;
  for (char c : name) {
    if (c == '/' || c == ':' || c <= ' ' || c == 0x7f) return false;
  }
  return name != "." && name != "..";
}

void* KeepTypedArray(Napi::Env env, Napi::Object options, const char* name, napi_typedarray_type type,
                     size_t minLength, size_t alignment, const std::string& label, const char* mismatch,
                     napi_ref* ref) {
  Napi::Value value = options.Get(name);
  if (env.IsExceptionPending()) return nullptr;
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type ||
      value.As<Napi::TypedArray>().ElementLength() < minLength) {
    Napi::TypeError::New(env, label + " " + mismatch).ThrowAsJavaScriptException();
    return nullptr;
  }
  Napi::TypedArray array = value.As<Napi::TypedArray>();
  uint8_t* data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  if (reinterpret_cast<uintptr_t>(data) % alignment != 0 || napi_create_reference(env, array, 1, ref) != napi_ok) {
    if (!env.IsExceptionPending()) {
      Napi::TypeError::New(env, label + " is misaligned or cannot be kept").ThrowAsJavaScriptException();
    }
    return nullptr;
  }
  return data;
}

}  // namespace offpath
