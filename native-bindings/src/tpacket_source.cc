// AF_PACKET source with a memory-mapped RX ring that JavaScript reads in place (zero copy).
//
// TPACKET_V2 hands out one frame slot per packet and wakes the reader as soon as a slot is filled: lowest
// latency. TPACKET_V3 fills variable-size blocks and wakes the reader when a block is full or its retire timer
// (blockTimeoutMs) fires: fewer wake-ups and denser memory under load, but at low rates a packet can wait up to
// the timeout. Frames or blocks go back to the kernel right after the JavaScript batch callback returns.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/dlt.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <vector>

#include "bpf.h"
#include "capture_options.h"
#include "common.h"
#include "interface.h"

namespace offpath {

void SharedMapping::Unmap() {
  if (addr != nullptr) munmap(addr, length);
  addr = nullptr;
}

void SharedMapping::Release() {
  if (--refs == 0) {
    Unmap();
    delete this;
  }
}

namespace {

constexpr uint32_t kSllHeaderLength = 16;
constexpr uint32_t kVlanTagLength = 4;
constexpr size_t kMaxBlockBytes = 4u << 20;

inline void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The kernel strips 802.1Q/802.1ad tags into ring metadata before packet sockets see a frame, so a filter that
// names "vlan" cannot match in the kernel; such filters run in user space on the re-tagged frame instead.
bool NeedsUserlandFilter(const std::string& expression) {
  static const std::regex vlanWord("(^|[^A-Za-z0-9_])vlan($|[^A-Za-z0-9_])", std::regex::icase);
  return std::regex_search(expression, vlanWord);
}

class TpacketSource final : public PacketSource {
 public:
  ~TpacketSource() override { Close(); }

  bool Open(const CaptureOptions& o, SourceError* error) {
    snap_ = o.snapLength;
    version_ = o.tpacketVersion == 2 ? TPACKET_V2 : TPACKET_V3;
    bool any = o.iface == "any";
    InterfaceFacts facts;
    if (!any) {
      std::string what;
      int err = ProbeInterface(o.iface, &facts, &what);
      if (err != 0) return FailErrno(error, what, err);
    }
    cooked_ = any || !IsEthernetLike(facts.arpType);
    link_ = cooked_ ? DLT_LINUX_SLL : DLT_EN10MB;

    std::string message;
    if (!CompileFilter(o.filter, link_, static_cast<int>(snap_), &filter_, &message)) {
      return Fail(error, problem::kBadFilter, message, 0);
    }
    if (filter_.userland.empty() && NeedsUserlandFilter(o.filter)) {
      CompileProgram(o.filter, link_, static_cast<int>(snap_), &filter_.userland, &message);
      filter_.kernel = {BPF_STMT(BPF_RET | BPF_K, 0x40000u)};
    }

    fd_ = socket(AF_PACKET, (cooked_ ? SOCK_DGRAM : SOCK_RAW) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) return FailErrno(error, "socket(AF_PACKET)", errno);
    int version = version_;
    if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
      return FailErrno(error, "setsockopt(PACKET_VERSION)", errno);
    }
    struct sock_fprog program;
    program.len = static_cast<unsigned short>(filter_.kernel.size());
    program.filter = filter_.kernel.data();
    if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0) {
      int err = errno;
      return Fail(error, problem::kBadFilter, ErrnoMessage("the kernel refused the filter (SO_ATTACH_FILTER)", err), err);
    }
    if (!SetUpRing(o, error)) return false;

    struct sockaddr_ll addr;
    memset(&addr, 0, sizeof addr);
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = facts.ifindex;
    if (bind(fd_, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
      return FailErrno(error, "bind(AF_PACKET, " + o.iface + ")", errno);
    }
    // Binding to a down interface succeeds but leaves ENETDOWN pending on the socket.
    int pending = TakeSocketError();
    if (pending != 0) return FailErrno(error, "interface " + o.iface, pending);

    if (o.promiscuous && !any) {
      struct packet_mreq mr;
      memset(&mr, 0, sizeof mr);
      mr.mr_ifindex = facts.ifindex;
      mr.mr_type = PACKET_MR_PROMISC;
      if (setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
        return FailErrno(error, "setsockopt(PACKET_ADD_MEMBERSHIP, promiscuous)", errno);
      }
    }
    if (o.ignoreOutgoing) {
      int one = 1;
      if (setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) {
        return FailErrno(error, "setsockopt(PACKET_IGNORE_OUTGOING)", errno);
      }
    }
    if (o.fanoutGroup >= 0) {
      // Hash by flow so that every packet of a connection reaches the same socket; DEFRAG reassembles IP
      // fragments first so that they hash like the rest of their flow.
      int arg = (o.fanoutGroup & 0xffff) | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16);
      if (setsockopt(fd_, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) {
        int err = errno;
        std::string what = "setsockopt(PACKET_FANOUT, group " + std::to_string(o.fanoutGroup) + ")";
        if (err == EINVAL || err == EALREADY) {
          what += " (the group already exists with another mode or on another interface; pick another group id)";
        }
        return Fail(error, problem::kFailed, ErrnoMessage(what, err), err);
      }
    }
    return true;
  }

  const char* Backend() const override { return "native-tpacket"; }
  int PollFd() const override { return fd_; }
  int LinkType() const override { return link_; }
  bool ZeroCopy() const override { return true; }
  uint8_t* Data() override { return ring_ != nullptr ? ring_->addr : nullptr; }
  size_t DataBytes() const override { return ring_ != nullptr ? ring_->length : 0; }
  SharedMapping* Mapping() override { return ring_; }

  bool Drain(BatchSink& sink, uint32_t budget, SourceError* error) override {
    if (fd_ < 0 || ring_ == nullptr) return true;
    return version_ == TPACKET_V2 ? DrainV2(sink, budget) : DrainV3(sink, budget);
  }

  uint64_t KernelDrops() override {
    if (fd_ >= 0) {
      // PACKET_STATISTICS resets the kernel's counters on every read: accumulate.
      struct tpacket_stats_v3 st;
      memset(&st, 0, sizeof st);
      socklen_t len = version_ == TPACKET_V3 ? sizeof(struct tpacket_stats_v3) : sizeof(struct tpacket_stats);
      if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) drops_ += st.tp_drops;
    }
    return drops_;
  }

  int TakeSocketError() override {
    if (fd_ < 0) return 0;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
  }

  void Close() override { CloseImpl(true); }
  void CloseKeepingMemory() override { CloseImpl(false); }

 private:
  void CloseImpl(bool unmapNow) {
    if (fd_ >= 0) {
      KernelDrops();
      close(fd_);
      fd_ = -1;
    }
    if (ring_ != nullptr) {
      if (unmapNow) ring_->Unmap();
      ring_->Release();
      ring_ = nullptr;
    }
    frames_.clear();
    blocks_.clear();
  }

  bool Fail(SourceError* error, const char* problem, const std::string& message, int err) {
    error->problem = problem;
    error->message = message;
    error->err = err;
    Close();
    return false;
  }
  bool FailErrno(SourceError* error, const std::string& what, int err) {
    return Fail(error, ProblemForErrno(err), ErrnoMessage(what, err), err);
  }

  bool SetUpRing(const CaptureOptions& o, SourceError* error) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    hdrlen_ = version_ == TPACKET_V2 ? TPACKET2_HDRLEN : TPACKET3_HDRLEN;
    // Where the kernel puts the network header: TPACKET_ALIGN(hdrlen + 16) for SOCK_RAW Ethernet,
    // TPACKET_ALIGN(hdrlen) + 16 for SOCK_DGRAM; the larger bound covers both.
    const size_t netoff = TPACKET_ALIGN(hdrlen_ + 16) + 16;
    const size_t frameSize = TPACKET_ALIGN(netoff + snap_);
    size_t blockSize;
    if (version_ == TPACKET_V2) {
      // The block size with the least slack for whole frames (frames never straddle blocks).
      size_t minBlock = page;
      while (minBlock < frameSize) minBlock <<= 1;
      blockSize = minBlock;
      double bestWaste = 1.0;
      // Blocks no bigger than a quarter of the ring, so the ring still has several.
      const size_t maxBlock = std::max(minBlock, std::min(kMaxBlockBytes, static_cast<size_t>(o.bufferBytes) / 4));
      for (size_t b = minBlock; b <= maxBlock; b <<= 1) {
        double waste = static_cast<double>(b % frameSize) / static_cast<double>(b);
        if (waste + 1e-9 < bestWaste) {
          bestWaste = waste;
          blockSize = b;
        }
      }
    } else {
      blockSize = std::max<size_t>(o.blockBytes, page);
      size_t pow = page;
      while (pow < blockSize) pow <<= 1;
      blockSize = pow;
      while (blockSize < frameSize + 64) blockSize <<= 1;
    }
    size_t framesPerBlock = blockSize / frameSize;
    size_t blockCount = std::max<size_t>(version_ == TPACKET_V2 ? 1 : 2, o.bufferBytes / blockSize);
    if (version_ == TPACKET_V2) blockCount = std::max<size_t>(blockCount, (8 + framesPerBlock - 1) / framesPerBlock);

    int rc;
    if (version_ == TPACKET_V2) {
      struct tpacket_req req;
      memset(&req, 0, sizeof req);
      req.tp_block_size = static_cast<unsigned>(blockSize);
      req.tp_block_nr = static_cast<unsigned>(blockCount);
      req.tp_frame_size = static_cast<unsigned>(frameSize);
      req.tp_frame_nr = static_cast<unsigned>(framesPerBlock * blockCount);
      rc = setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof req);
    } else {
      struct tpacket_req3 req;
      memset(&req, 0, sizeof req);
      req.tp_block_size = static_cast<unsigned>(blockSize);
      req.tp_block_nr = static_cast<unsigned>(blockCount);
      req.tp_frame_size = static_cast<unsigned>(frameSize);
      req.tp_frame_nr = static_cast<unsigned>(framesPerBlock * blockCount);
      req.tp_retire_blk_tov = o.blockTimeoutMs;
      rc = setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof req);
    }
    if (rc != 0) {
      return FailErrno(error, "setsockopt(PACKET_RX_RING, " + std::to_string(blockCount) + " blocks of " +
                                  std::to_string(blockSize) + " bytes)", errno);
    }
    size_t length = blockSize * blockCount;
    void* addr = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (addr == MAP_FAILED) return FailErrno(error, "mmap(packet ring)", errno);
    ring_ = new SharedMapping();
    ring_->addr = static_cast<uint8_t*>(addr);
    ring_->length = length;
    uint8_t* base = ring_->addr;
    if (version_ == TPACKET_V2) {
      frames_.reserve(framesPerBlock * blockCount);
      for (size_t b = 0; b < blockCount; b++) {
        for (size_t f = 0; f < framesPerBlock; f++) frames_.push_back(base + b * blockSize + f * frameSize);
      }
    } else {
      for (size_t b = 0; b < blockCount; b++) blocks_.push_back(base + b * blockSize);
    }
    cursor_ = 0;
    return true;
  }

  // Fixes up one packet in place (cooked header, re-inserted VLAN tag), applies the user-space filter if any and
  // appends it to the batch.
  void Deliver(BatchSink& sink, uint8_t* frame, const struct sockaddr_ll* sll, uint32_t macOffset, uint32_t snapLength,
               uint32_t wireLength, uint32_t status, uint16_t vlanTci, uint16_t vlanTpid, uint32_t sec, uint32_t nsec) {
    uint8_t* data = frame + macOffset;
    uint8_t* const floor = frame + hdrlen_;
    uint32_t cap = snapLength;
    uint32_t wire = wireLength;
    if (cooked_) {
      if (data - kSllHeaderLength < floor) return;  // cannot happen with the kernel's layout; never overwrite headers
      data -= kSllHeaderLength;
      PutBe16(data, sll->sll_pkttype);
      PutBe16(data + 2, sll->sll_hatype);
      uint16_t halen = std::min<uint16_t>(sll->sll_halen, 8);
      PutBe16(data + 4, sll->sll_halen);
      memset(data + 6, 0, 8);
      memcpy(data + 6, sll->sll_addr, halen);
      memcpy(data + 14, &sll->sll_protocol, 2);  // already in network order
      cap += kSllHeaderLength;
      wire += kSllHeaderLength;
    }
    if (vlanTci != 0 || (status & TP_STATUS_VLAN_VALID) != 0) {
      const uint32_t vlanOffset = cooked_ ? 14 : 12;  // where the tag goes: after the addresses
      if (cap >= vlanOffset && data - kVlanTagLength >= floor) {
        data -= kVlanTagLength;
        memmove(data, data + kVlanTagLength, vlanOffset);
        uint16_t tpid = (vlanTpid != 0 || (status & TP_STATUS_VLAN_TPID_VALID) != 0) ? vlanTpid : ETH_P_8021Q;
        PutBe16(data + vlanOffset, tpid);
        PutBe16(data + vlanOffset + 2, vlanTci);
        cap += kVlanTagLength;
        wire += kVlanTagLength;
      }
    }
    if (!filter_.userland.empty() && RunFilter(filter_.userland, data, wire, cap) == 0) return;
    if (cap > snap_) cap = snap_;
    sink.Add(static_cast<uint32_t>(data - ring_->addr), cap, wire, sec, nsec);
  }

  bool FlushAndRelease(BatchSink& sink) {
    bool open = sink.Flush();
    if (version_ == TPACKET_V2) {
      for (uint32_t i = 0; i < pendingCount_; i++) {
        auto* h = reinterpret_cast<struct tpacket2_hdr*>(frames_[(pendingStart_ + i) % frames_.size()]);
        __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      }
    } else {
      for (uint32_t i = 0; i < pendingCount_; i++) {
        auto* b = reinterpret_cast<struct tpacket_block_desc*>(blocks_[(pendingStart_ + i) % blocks_.size()]);
        __atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      }
    }
    pendingStart_ = cursor_;
    pendingCount_ = 0;
    return open;
  }

  bool DrainV2(BatchSink& sink, uint32_t budget) {
    const size_t n = frames_.size();
    pendingStart_ = cursor_;
    pendingCount_ = 0;
    for (uint32_t done = 0; done < budget; done++) {
      // Every slot is waiting for the batch callback: hand them over before the cursor meets them again.
      if (pendingCount_ == n && !FlushAndRelease(sink)) return true;
      uint8_t* frame = frames_[cursor_];
      auto* h = reinterpret_cast<struct tpacket2_hdr*>(frame);
      uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
      if ((status & TP_STATUS_USER) == 0) break;
      if (sink.Full() && !FlushAndRelease(sink)) return true;
      const auto* sll = reinterpret_cast<const struct sockaddr_ll*>(frame + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)));
      Deliver(sink, frame, sll, h->tp_mac, h->tp_snaplen, h->tp_len, status, h->tp_vlan_tci, h->tp_vlan_tpid,
              h->tp_sec, h->tp_nsec);
      cursor_ = static_cast<uint32_t>((cursor_ + 1) % n);
      pendingCount_++;
    }
    FlushAndRelease(sink);
    return true;
  }

  bool DrainV3(BatchSink& sink, uint32_t budget) {
    const size_t n = blocks_.size();
    pendingStart_ = cursor_;
    pendingCount_ = 0;
    uint32_t done = 0;
    while (done < budget) {
      if (pendingCount_ == n && !FlushAndRelease(sink)) return true;
      uint8_t* block = blocks_[cursor_];
      auto* desc = reinterpret_cast<struct tpacket_block_desc*>(block);
      uint32_t status = __atomic_load_n(&desc->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
      if ((status & TP_STATUS_USER) == 0) break;
      uint32_t count = desc->hdr.bh1.num_pkts;
      uint8_t* p = block + desc->hdr.bh1.offset_to_first_pkt;
      for (uint32_t i = 0; i < count; i++) {
        // The current block is not in the pending range yet, so a mid-block flush does not release it.
        if (sink.Full() && !FlushAndRelease(sink)) return true;
        auto* h = reinterpret_cast<struct tpacket3_hdr*>(p);
        const auto* sll = reinterpret_cast<const struct sockaddr_ll*>(p + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
        Deliver(sink, p, sll, h->tp_mac, h->tp_snaplen, h->tp_len, h->tp_status, h->hv1.tp_vlan_tci,
                h->hv1.tp_vlan_tpid, h->tp_sec, h->tp_nsec);
        p += h->tp_next_offset;
      }
      done += std::max<uint32_t>(count, 1);
      if (pendingCount_ == 0) pendingStart_ = cursor_;
      cursor_ = static_cast<uint32_t>((cursor_ + 1) % n);
      pendingCount_++;
    }
    FlushAndRelease(sink);
    return true;
  }

  int fd_ = -1;
  int version_ = TPACKET_V3;
  int link_ = DLT_EN10MB;
  bool cooked_ = false;
  uint32_t snap_ = 262144;
  size_t hdrlen_ = 0;
  SharedMapping* ring_ = nullptr;
  std::vector<uint8_t*> frames_;  // V2 frame slots
  std::vector<uint8_t*> blocks_;  // V3 blocks
  uint32_t cursor_ = 0;
  uint32_t pendingStart_ = 0;
  uint32_t pendingCount_ = 0;
  CompiledFilter filter_;
  uint64_t drops_ = 0;
};

}  // namespace

std::unique_ptr<PacketSource> OpenTpacketSource(const CaptureOptions& options, SourceError* error) {
  auto source = std::make_unique<TpacketSource>();
  if (!source->Open(options, error)) return nullptr;
  return source;
}

}  // namespace offpath
