// Options of one capture, read from the object that src/capture/live/native-capture.ts passes in.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "capture_source.h"

namespace offpath {

struct CaptureOptions {
  std::string mode;  // "pcap" | "tpacket"
  std::string iface;
  std::string filter;
  std::string netns;  // path of a network namespace file, or empty
  uint32_t snapLength = 262144;
  uint32_t bufferBytes = 32u << 20;
  bool promiscuous = true;
  bool ignoreOutgoing = false;
  uint32_t batchPackets = 1024;
  uint32_t batchBytes = 4u << 20;  // pcap mode: size of the buffer packets are copied into
  // tpacket mode
  uint32_t tpacketVersion = 3;
  uint32_t blockBytes = 256u << 10;
  uint32_t blockTimeoutMs = 1;
  int32_t fanoutGroup = -1;  // -1 = no fanout
};

// Both open with the calling thread already in the capture's network namespace.
std::unique_ptr<PacketSource> OpenPcapSource(const CaptureOptions& options, SourceError* error);
std::unique_ptr<PacketSource> OpenTpacketSource(const CaptureOptions& options, SourceError* error);

}  // namespace offpath
