// The part of a capture that differs between libpcap and the raw TPACKET ring: where packets come from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace offpath {

// Per-packet metadata words, in the order they appear in the Uint32Array handed to JavaScript.
constexpr uint32_t kMetaWords = 5;  // offset, capturedLength, wireLength, tsSec, tsNsec

// Where a source puts packets: a fixed array of metadata entries that goes to JavaScript in one call.
class BatchSink {
 public:
  virtual ~BatchSink() = default;
  bool Full() const { return count_ >= capacity_; }
  uint32_t Count() const { return count_; }
  uint32_t Capacity() const { return capacity_; }
  void Add(uint32_t offset, uint32_t capturedLength, uint32_t wireLength, uint32_t tsSec, uint32_t tsNsec) {
    uint32_t* m = meta_ + static_cast<size_t>(count_) * kMetaWords;
    m[0] = offset;
    m[1] = capturedLength;
    m[2] = wireLength;
    m[3] = tsSec;
    m[4] = tsNsec;
    count_++;
  }
  // Hands the batch to JavaScript (one call) and empties it. The packets' bytes may be released afterwards.
  // Returns false if JavaScript closed the capture during the call: the source must stop at once (its memory
  // stays valid until Drain returns).
  virtual bool Flush() = 0;

 protected:
  uint32_t* meta_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t count_ = 0;
};

struct SourceError {
  const char* problem = nullptr;  // null = no error
  std::string message;
  int err = 0;
};

// Ring memory shared by a source and the JavaScript ArrayBuffer that exposes it. Both hold a reference; the memory
// is unmapped when the source closes (after the ArrayBuffer has been detached) or when the last holder lets go.
// Only ever touched on the JavaScript thread that owns the capture.
struct SharedMapping {
  uint8_t* addr = nullptr;
  size_t length = 0;
  int refs = 1;
  void Unmap();
  void Release();
};

class PacketSource {
 public:
  virtual ~PacketSource() = default;
  virtual const char* Backend() const = 0;
  virtual int PollFd() const = 0;
  virtual int LinkType() const = 0;

  // True when Data() is kernel ring memory that JavaScript reads in place; false when the source copies packets
  // into a buffer the caller provides with SetCopyBuffer.
  virtual bool ZeroCopy() const = 0;
  virtual uint8_t* Data() = 0;
  virtual size_t DataBytes() const = 0;
  virtual void SetCopyBuffer(uint8_t* data, size_t bytes) {}
  virtual SharedMapping* Mapping() { return nullptr; }

  // Moves every ready packet (up to `budget`) into `sink`, flushing whenever it is full and at the end, and gives
  // delivered packets back to the kernel after each flush. Returns false with *error on a fatal error. Stops
  // early (returning true) when a flush reports that the capture was closed.
  virtual bool Drain(BatchSink& sink, uint32_t budget, SourceError* error) = 0;

  // Cumulative kernel drops (ring or buffer full). Keeps the last value after Close.
  virtual uint64_t KernelDrops() = 0;

  // Pending socket error (SO_ERROR, which also clears it), 0 if none.
  virtual int TakeSocketError() = 0;

  // Releases the socket and the ring. Idempotent.
  virtual void Close() = 0;
  // Like Close, but ring memory that JavaScript may still be holding stays mapped until the last holder lets go
  // (used when the capture object is garbage-collected without close()).
  virtual void CloseKeepingMemory() { Close(); }
};

}  // namespace offpath
