// Putting crafted packets on the wire: whole Ethernet frames on one interface (AF_PACKET), or complete IP packets
// through the routing table (raw IP sockets).
#pragma once

#include <napi.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

namespace offpath {

// JS: new FrameInjectorHandle({ iface, netns?, qdiscBypass?, sendBufferBytes? })
//   send(buffer, offset, length) -> boolean
//   sendBatch(buffer, offsets: Uint32Array, lengths: Uint32Array, count) -> number of frames the kernel took
//   counters(out: Float64Array(2)) -> [sent, refused]; lastError: string | null; close()
class FrameInjectorHandle : public Napi::ObjectWrap<FrameInjectorHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit FrameInjectorHandle(const Napi::CallbackInfo& info);
  ~FrameInjectorHandle() override;

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value LastError(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Refused(int err);

  int fd_ = -1;
  std::string iface_;
  uint64_t sent_ = 0;
  uint64_t refused_ = 0;
  int lastErrno_ = 0;
  std::vector<struct mmsghdr> messages_;  // reused by sendBatch
  std::vector<struct iovec> iovecs_;
};

// JS: new RawIpInjectorHandle({ netns?, device? })
//   sendIp(buffer, offset, length) -> boolean (family from the version nibble)
//   counters(out: Float64Array(2)) -> [sent, refused]; lastError: string | null; close()
class RawIpInjectorHandle : public Napi::ObjectWrap<RawIpInjectorHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit RawIpInjectorHandle(const Napi::CallbackInfo& info);
  ~RawIpInjectorHandle() override;

 private:
  Napi::Value SendIp(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value LastError(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void CloseSockets();

  int fd4_ = -1;
  int fd6_ = -1;
  unsigned deviceIndex_ = 0;
  uint64_t sent_ = 0;
  uint64_t refused_ = 0;
  int lastErrno_ = 0;
  std::string lastError_;
};

}  // namespace offpath
