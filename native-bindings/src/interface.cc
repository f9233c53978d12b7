#include "interface.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if_arp.h>
#include <net/if.h>
#include <pcap/dlt.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "netns.h"

namespace offpath {

int ProbeInterface(const std::string& name, InterfaceFacts* facts, std::string* what) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *what = "socket(AF_INET)";
    return errno;
  }
  struct ifreq ifr;
  auto reset = [&]() {
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, name.c_str(), name.size());
  };
  int err = 0;
  reset();
  if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0) {
    err = errno;
    *what = "looking up the interface (SIOCGIFINDEX)";
  } else {
    facts->ifindex = ifr.ifr_ifindex;
    reset();
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
      err = errno;
      *what = "SIOCGIFHWADDR " + name;
    } else {
      facts->arpType = ifr.ifr_hwaddr.sa_family;
      memcpy(facts->mac, ifr.ifr_hwaddr.sa_data, 6);
      facts->macLength = IsEthernetLike(facts->arpType) ? 6 : 0;
      reset();
      if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
        err = errno;
        *what = "SIOCGIFFLAGS " + name;
      } else {
        facts->flags = static_cast<uint16_t>(ifr.ifr_flags);
        reset();
        if (ioctl(fd, SIOCGIFMTU, &ifr) != 0) {
          err = errno;
          *what = "SIOCGIFMTU " + name;
        } else {
          facts->mtu = ifr.ifr_mtu;
        }
      }
    }
  }
  close(fd);
  return err;
}

bool IsEthernetLike(int arpType) { return arpType == ARPHRD_ETHER || arpType == ARPHRD_LOOPBACK; }

int LinkTypeForArpType(int arpType) { return IsEthernetLike(arpType) ? DLT_EN10MB : DLT_LINUX_SLL; }

void InterfaceDropCounter::Open(const std::string& iface) {
  Close();
  iface_ = iface;
  fd_ = open("/proc/thread-self/net/dev", O_RDONLY | O_CLOEXEC);
  uint64_t v = 0;
  if (fd_ >= 0 && Read(&v)) {
    base_ = v;
    last_ = v;
  }
}

void InterfaceDropCounter::Close() {
  if (fd_ >= 0) {
    uint64_t v = 0;
    if (Read(&v)) last_ = v;
    close(fd_);
    fd_ = -1;
  }
}

uint64_t InterfaceDropCounter::Dropped() {
  uint64_t v = 0;
  if (fd_ >= 0 && Read(&v)) last_ = v;
  return last_ >= base_ ? last_ - base_ : 0;
}

bool InterfaceDropCounter::Read(uint64_t* value) {
  // /proc/net/dev: two header lines, then "  NAME: rx_bytes rx_packets rx_errs rx_drop ..." per interface.
  std::string text;
  char chunk[16384];
  off_t at = 0;
  for (;;) {
    ssize_t n = pread(fd_, chunk, sizeof chunk, at);
    if (n < 0) return false;
    if (n == 0) break;
    text.append(chunk, static_cast<size_t>(n));
    at += n;
  }
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    size_t p = pos;
    while (p < end && text[p] == ' ') p++;
    size_t colon = text.find(':', p);
    if (colon != std::string::npos && colon < end && colon - p == iface_.size() &&
        text.compare(p, iface_.size(), iface_) == 0) {
      unsigned long long bytes = 0, packets = 0, errs = 0, drop = 0;
      std::string rest = text.substr(colon + 1, end - colon - 1);
      if (sscanf(rest.c_str(), "%llu %llu %llu %llu", &bytes, &packets, &errs, &drop) == 4) {
        *value = drop;
        return true;
      }
      return false;
    }
    pos = end + 1;
  }
  return false;
}

Napi::Value InterfaceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "interfaceInfo(name, netns?) needs an interface name").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string netns;
  if (info.Length() > 1 && info[1].IsString()) netns = info[1].As<Napi::String>().Utf8Value();
  if (!ValidInterfaceName(name)) {
    ThrowCaptureError(env, problem::kNoSuchInterface, "\"" + name + "\" is not a valid interface name", ENODEV);
    return env.Undefined();
  }
  InterfaceFacts facts;
  std::string what;
  int err = 0;
  {
    NetnsScope ns;
    err = ns.Enter(netns, &what);
    if (err == 0) err = ProbeInterface(name, &facts, &what);
  }
  if (err != 0) {
    ThrowErrno(env, what, err);
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", name);
  out.Set("ifindex", facts.ifindex);
  char mac[18];
  snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", facts.mac[0], facts.mac[1], facts.mac[2], facts.mac[3],
           facts.mac[4], facts.mac[5]);
  out.Set("mac", facts.macLength == 6 ? Napi::Value(Napi::String::New(env, mac)) : env.Null());
  out.Set("mtu", facts.mtu);
  out.Set("up", (facts.flags & IFF_UP) != 0);
  out.Set("running", (facts.flags & IFF_RUNNING) != 0);
  out.Set("promiscuous", (facts.flags & IFF_PROMISC) != 0);
  out.Set("arpType", facts.arpType);
  out.Set("linkType", LinkTypeForArpType(facts.arpType));
  return out;
}

}  // namespace offpath
