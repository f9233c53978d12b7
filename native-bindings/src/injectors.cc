#include "injectors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "common.h"
#include "interface.h"
#include "netns.h"

namespace offpath {

namespace {

constexpr uint32_t kMaxMessagesPerCall = 1024;  // UIO_MAXIOV: the kernel's cap on one sendmmsg
constexpr uint32_t kMinFrameBytes = 14;         // an Ethernet header

// Reads (buffer, offset, length) arguments: a Uint8Array (or Buffer) and a byte range inside it.
bool ByteRange(const Napi::CallbackInfo& info, size_t first, const uint8_t** data, size_t* length) {
  Napi::Env env = info.Env();
  if (info.Length() < first + 3 || !info[first].IsTypedArray() ||
      info[first].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !info[first + 1].IsNumber() ||
      !info[first + 2].IsNumber()) {
    Napi::TypeError::New(env, "expected (bytes: Uint8Array, offset: number, length: number)").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Uint8Array bytes = info[first].As<Napi::Uint8Array>();
  double offset = info[first + 1].As<Napi::Number>().DoubleValue();
  double len = info[first + 2].As<Napi::Number>().DoubleValue();
  double size = static_cast<double>(bytes.ElementLength());
  if (!(offset >= 0 && len >= 0 && offset + len <= size) || offset != static_cast<double>(static_cast<size_t>(offset)) ||
      len != static_cast<double>(static_cast<size_t>(len))) {
    Napi::RangeError::New(env, "offset/length outside the buffer").ThrowAsJavaScriptException();
    return false;
  }
  *data = bytes.Data() + static_cast<size_t>(offset);
  *length = static_cast<size_t>(len);
  return true;
}

bool CountersArgument(const Napi::CallbackInfo& info, Napi::Float64Array* out) {
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::TypedArray>().ElementLength() < 2) {
    Napi::TypeError::New(info.Env(), "counters(out) needs a Float64Array of length 2").ThrowAsJavaScriptException();
    return false;
  }
  *out = info[0].As<Napi::Float64Array>();
  return true;
}

// A send that failed because the queue is momentarily full, as opposed to a frame the kernel will never take.
bool Transient(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EINTR; }

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// FrameInjectorHandle
// ---------------------------------------------------------------------------------------------------------------

Napi::Function FrameInjectorHandle::Define(Napi::Env env) {
  return DefineClass(env, "FrameInjectorHandle",
                     {
                         InstanceMethod<&FrameInjectorHandle::Send>("send"),
                         InstanceMethod<&FrameInjectorHandle::SendBatch>("sendBatch"),
                         InstanceMethod<&FrameInjectorHandle::Counters>("counters"),
                         InstanceAccessor<&FrameInjectorHandle::LastError>("lastError"),
                         InstanceMethod<&FrameInjectorHandle::Close>("close"),
                     });
}

FrameInjectorHandle::FrameInjectorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FrameInjectorHandle>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "FrameInjectorHandle(options) needs an options object").ThrowAsJavaScriptException();
    return;
  }
  Napi::Object o = info[0].As<Napi::Object>();
  std::string netns;
  bool qdiscBypass = false;
  uint32_t sendBuffer = 0;
  if (!ReadString(o, "iface", &iface_, true) || !ReadString(o, "netns", &netns, false) ||
      !ReadBool(o, "qdiscBypass", &qdiscBypass, false) ||
      !ReadUint(o, "sendBufferBytes", &sendBuffer, 0, 0, 1u << 30)) {
    return;
  }
  if (!ValidInterfaceName(iface_)) {
    ThrowCaptureError(env, problem::kNoSuchInterface, "\"" + iface_ + "\" is not a valid interface name", ENODEV);
    return;
  }
  std::string what;
  int err = 0;
  {
    NetnsScope ns;
    err = ns.Enter(netns, &what);
    InterfaceFacts facts;
    if (err == 0) err = ProbeInterface(iface_, &facts, &what);
    if (err == 0) {
      // Protocol 0: this socket only sends, so it must not get a copy of every received frame queued to it.
      fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd_ < 0) {
        err = errno;
        what = "socket(AF_PACKET)";
      }
    }
    if (err == 0) {
      struct sockaddr_ll addr;
      memset(&addr, 0, sizeof addr);
      addr.sll_family = AF_PACKET;
      addr.sll_ifindex = facts.ifindex;
      if (bind(fd_, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
        err = errno;
        what = "bind(AF_PACKET, " + iface_ + ")";
      }
    }
    if (err == 0 && qdiscBypass) {
      int one = 1;
      if (setsockopt(fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0) {
        err = errno;
        what = "setsockopt(PACKET_QDISC_BYPASS)";
      }
    }
    if (err == 0 && sendBuffer > 0) {
      int size = static_cast<int>(sendBuffer);
      if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0 &&
          setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0) {
        err = errno;
        what = "setsockopt(SO_SNDBUF)";
      }
    }
  }
  if (err != 0) {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    ThrowErrno(env, what, err);
  }
}

FrameInjectorHandle::~FrameInjectorHandle() {
  if (fd_ >= 0) close(fd_);
}

void FrameInjectorHandle::Refused(int err) {
  refused_++;
  lastErrno_ = err;
}

Napi::Value FrameInjectorHandle::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data;
  size_t length;
  if (!ByteRange(info, 0, &data, &length)) return env.Undefined();
  if (fd_ < 0) {
    Refused(EBADF);
    return Napi::Boolean::New(env, false);
  }
  if (length < kMinFrameBytes) {
    Refused(EINVAL);
    return Napi::Boolean::New(env, false);
  }
  ssize_t n = send(fd_, data, length, MSG_DONTWAIT);
  if (n != static_cast<ssize_t>(length)) {
    Refused(n < 0 ? errno : EMSGSIZE);
    return Napi::Boolean::New(env, false);
  }
  sent_++;
  return Napi::Boolean::New(env, true);
}

Napi::Value FrameInjectorHandle::SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray() ||
      !info[3].IsNumber() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    Napi::TypeError::New(env, "sendBatch(buffer: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array buffer = info[0].As<Napi::Uint8Array>();
  Napi::Uint32Array offsets = info[1].As<Napi::Uint32Array>();
  Napi::Uint32Array lengths = info[2].As<Napi::Uint32Array>();
  double countArg = info[3].As<Napi::Number>().DoubleValue();
  if (!(countArg >= 0) || countArg > static_cast<double>(std::min(offsets.ElementLength(), lengths.ElementLength())) ||
      countArg != static_cast<double>(static_cast<uint32_t>(countArg))) {
    Napi::RangeError::New(env, "count exceeds the offsets/lengths arrays").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const uint32_t count = static_cast<uint32_t>(countArg);
  const size_t size = buffer.ElementLength();
  for (uint32_t i = 0; i < count; i++) {
    if (static_cast<size_t>(offsets[i]) + lengths[i] > size) {
      Napi::RangeError::New(env, "frame " + std::to_string(i) + " lies outside the buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  if (fd_ < 0) {
    refused_ += count;
    lastErrno_ = EBADF;
    return Napi::Number::New(env, 0);
  }
  uint32_t chunk = std::min(count, kMaxMessagesPerCall);
  if (messages_.size() < chunk) {
    messages_.resize(chunk);
    iovecs_.resize(chunk);
  }
  uint8_t* base = buffer.Data();
  uint32_t accepted = 0;
  uint32_t next = 0;
  while (next < count) {
    uint32_t n = std::min(count - next, kMaxMessagesPerCall);
    for (uint32_t i = 0; i < n; i++) {
      iovecs_[i].iov_base = base + offsets[next + i];
      iovecs_[i].iov_len = lengths[next + i];
      memset(&messages_[i], 0, sizeof(struct mmsghdr));
      messages_[i].msg_hdr.msg_iov = &iovecs_[i];
      messages_[i].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(fd_, messages_.data(), n, MSG_DONTWAIT);
    if (r < 0) {
      int err = errno;
      if (Transient(err)) {
        // Queue full: the rest of the batch is refused now rather than blocking the event loop.
        refused_ += count - next;
        lastErrno_ = err;
        break;
      }
      // The first frame of this slice is one the kernel will never take (too short, too long): skip it.
      Refused(err);
      next++;
      continue;
    }
    accepted += static_cast<uint32_t>(r);
    sent_ += static_cast<uint32_t>(r);
    next += static_cast<uint32_t>(r);
  }
  return Napi::Number::New(env, accepted);
}

Napi::Value FrameInjectorHandle::Counters(const Napi::CallbackInfo& info) {
  Napi::Float64Array out;
  if (!CountersArgument(info, &out)) return info.Env().Undefined();
  out[0] = static_cast<double>(sent_);
  out[1] = static_cast<double>(refused_);
  return info.Env().Undefined();
}

Napi::Value FrameInjectorHandle::LastError(const Napi::CallbackInfo& info) {
  if (lastErrno_ == 0) return info.Env().Null();
  return Napi::String::New(info.Env(), ErrnoMessage("send on " + iface_, lastErrno_));
}

Napi::Value FrameInjectorHandle::Close(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  return info.Env().Undefined();
}

// ---------------------------------------------------------------------------------------------------------------
// RawIpInjectorHandle
// ---------------------------------------------------------------------------------------------------------------

Napi::Function RawIpInjectorHandle::Define(Napi::Env env) {
  return DefineClass(env, "RawIpInjectorHandle",
                     {
                         InstanceMethod<&RawIpInjectorHandle::SendIp>("sendIp"),
                         InstanceMethod<&RawIpInjectorHandle::Counters>("counters"),
                         InstanceAccessor<&RawIpInjectorHandle::LastError>("lastError"),
                         InstanceMethod<&RawIpInjectorHandle::Close>("close"),
                     });
}

RawIpInjectorHandle::RawIpInjectorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RawIpInjectorHandle>(info) {
  Napi::Env env = info.Env();
  Napi::Object o = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  std::string netns, device;
  if (!ReadString(o, "netns", &netns, false) || !ReadString(o, "device", &device, false)) return;
  if (!device.empty() && !ValidInterfaceName(device)) {
    ThrowCaptureError(env, problem::kNoSuchInterface, "\"" + device + "\" is not a valid interface name", ENODEV);
    return;
  }
  std::string what;
  int err = 0;
  {
    NetnsScope ns;
    err = ns.Enter(netns, &what);
    if (err == 0 && !device.empty()) {
      InterfaceFacts facts;
      err = ProbeInterface(device, &facts, &what);
      deviceIndex_ = static_cast<unsigned>(facts.ifindex);
    }
    // IPPROTO_RAW implies IP_HDRINCL on both families: the caller's header goes out as given (IPv4: the kernel
    // still fills in the total length and header checksum, and the id and source when they are zero).
    if (err == 0) {
      fd4_ = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);
      if (fd4_ < 0) {
        err = errno;
        what = "socket(AF_INET, SOCK_RAW, IPPROTO_RAW)";
      }
    }
    if (err == 0) {
      fd6_ = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);
      if (fd6_ < 0) {
        err = errno;
        what = "socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)";
      }
    }
    if (err == 0 && !device.empty()) {
      for (int fd : {fd4_, fd6_}) {
        if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device.c_str(), static_cast<socklen_t>(device.size())) != 0) {
          err = errno;
          what = "setsockopt(SO_BINDTODEVICE, " + device + ")";
          break;
        }
      }
    }
  }
  if (err != 0) {
    CloseSockets();
    ThrowErrno(env, what, err);
  }
}

RawIpInjectorHandle::~RawIpInjectorHandle() { CloseSockets(); }

void RawIpInjectorHandle::CloseSockets() {
  if (fd4_ >= 0) close(fd4_);
  if (fd6_ >= 0) close(fd6_);
  fd4_ = fd6_ = -1;
}

Napi::Value RawIpInjectorHandle::SendIp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* p;
  size_t length;
  if (!ByteRange(info, 0, &p, &length)) return env.Undefined();
  auto refuse = [&](int err, const std::string& why) {
    refused_++;
    lastErrno_ = err;
    lastError_ = why;
    return Napi::Boolean::New(env, false);
  };
  if (fd4_ < 0) return refuse(EBADF, "the injector is closed");
  if (length < 1) return refuse(EINVAL, "empty packet");
  unsigned version = p[0] >> 4;
  ssize_t n;
  if (version == 4) {
    size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
    if (length < 20 || ihl < 20 || ihl > length) return refuse(EINVAL, "malformed IPv4 header");
    struct sockaddr_in dst;
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    memcpy(&dst.sin_addr, p + 16, 4);
    n = sendto(fd4_, p, length, MSG_DONTWAIT, reinterpret_cast<struct sockaddr*>(&dst), sizeof dst);
  } else if (version == 6) {
    if (length < 40) return refuse(EINVAL, "malformed IPv6 header");
    struct sockaddr_in6 dst;
    memset(&dst, 0, sizeof dst);
    dst.sin6_family = AF_INET6;
    memcpy(&dst.sin6_addr, p + 24, 16);
    if (IN6_IS_ADDR_LINKLOCAL(&dst.sin6_addr) || IN6_IS_ADDR_MC_LINKLOCAL(&dst.sin6_addr)) dst.sin6_scope_id = deviceIndex_;
    n = sendto(fd6_, p, length, MSG_DONTWAIT, reinterpret_cast<struct sockaddr*>(&dst), sizeof dst);
  } else {
    return refuse(EINVAL, "not an IP packet (version " + std::to_string(version) + ")");
  }
  if (n != static_cast<ssize_t>(length)) {
    int err = n < 0 ? errno : EMSGSIZE;
    return refuse(err, ErrnoMessage(std::string("sendto (IPv") + (version == 4 ? "4" : "6") + ")", err));
  }
  sent_++;
  return Napi::Boolean::New(env, true);
}

Napi::Value RawIpInjectorHandle::Counters(const Napi::CallbackInfo& info) {
  Napi::Float64Array out;
  if (!CountersArgument(info, &out)) return info.Env().Undefined();
  out[0] = static_cast<double>(sent_);
  out[1] = static_cast<double>(refused_);
  return info.Env().Undefined();
}

Napi::Value RawIpInjectorHandle::LastError(const Napi::CallbackInfo& info) {
  if (lastErrno_ == 0) return info.Env().Null();
  return Napi::String::New(info.Env(), lastError_);
}

Napi::Value RawIpInjectorHandle::Close(const Napi::CallbackInfo& info) {
  CloseSockets();
  return info.Env().Undefined();
}

}  // namespace offpath
