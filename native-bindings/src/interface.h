// What the kernel says about a network interface, and its interface-level drop counter.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace offpath {

struct InterfaceFacts {
  int ifindex = 0;
  int arpType = 0;  // ARPHRD_*
  uint32_t flags = 0;  // IFF_*
  int mtu = 0;
  uint8_t mac[6] = {0, 0, 0, 0, 0, 0};
  int macLength = 0;
};

// Looks `name` up in the calling thread's network namespace with ioctls. Returns 0 or an errno (ENODEV when
// there is no such interface); *what names the failed step.
int ProbeInterface(const std::string& name, InterfaceFacts* facts, std::string* what);

// The DLT the tpacket backend delivers for an ARPHRD type: Ethernet framing for Ethernet-like devices
// (loopback included, whose frames carry a zero Ethernet header), Linux cooked (SLL) for everything else.
int LinkTypeForArpType(int arpType);
bool IsEthernetLike(int arpType);

// Interface drops ("drop" column of /proc/net/dev: rx_dropped + rx_missed_errors) since Open. The file is
// opened inside the capture's network namespace and keeps reading that namespace's counters.
class InterfaceDropCounter {
 public:
  InterfaceDropCounter() = default;
  InterfaceDropCounter(const InterfaceDropCounter&) = delete;
  InterfaceDropCounter& operator=(const InterfaceDropCounter&) = delete;
  ~InterfaceDropCounter() { Close(); }

  // Call with the thread in the capture's namespace. Failing to open is not an error: drops then read 0.
  void Open(const std::string& iface);
  uint64_t Dropped();
  void Close();

 private:
  bool Read(uint64_t* value);
  int fd_ = -1;
  std::string iface_;
  uint64_t base_ = 0;
  uint64_t last_ = 0;
};

// JS: interfaceInfo(name: string, netns?: string) -> { name, ifindex, mac, mtu, up, running, promiscuous,
// arpType, linkType }.
Napi::Value InterfaceInfo(const Napi::CallbackInfo& info);

}  // namespace offpath
