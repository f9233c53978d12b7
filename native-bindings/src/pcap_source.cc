// libpcap source: immediate mode, non-blocking, woken by the socket's readiness; every packet is copied into the
// batch buffer because libpcap gives its ring slot back as soon as the per-packet callback returns.
#include <errno.h>
#include <pcap/pcap.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>

#include "capture_options.h"
#include "common.h"

namespace offpath {

namespace {

const char* ProblemForPcapStatus(int status) {
  switch (status) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
      return problem::kNoSuchInterface;
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED:
      return problem::kPermission;
    case PCAP_ERROR_IFACE_NOT_UP:
      return problem::kInterfaceDown;
    default:
      return problem::kFailed;
  }
}

class PcapSource final : public PacketSource {
 public:
  ~PcapSource() override { Close(); }

  bool Open(const CaptureOptions& o, SourceError* error) {
    char errbuf[PCAP_ERRBUF_SIZE] = {0};
    snap_ = o.snapLength;
    pcap_ = pcap_create(o.iface.c_str(), errbuf);
    if (pcap_ == nullptr) return Fail(error, problem::kFailed, std::string("pcap_create: ") + errbuf);
    pcap_set_snaplen(pcap_, static_cast<int>(o.snapLength));
    pcap_set_promisc(pcap_, o.promiscuous ? 1 : 0);
    pcap_set_buffer_size(pcap_, static_cast<int>(o.bufferBytes));
    // Without immediate mode libpcap uses TPACKET_V3 and a packet can wait for the block timeout.
    pcap_set_immediate_mode(pcap_, 1);
    pcap_set_tstamp_precision(pcap_, PCAP_TSTAMP_PRECISION_NANO);
    int status = pcap_activate(pcap_);
    if (status < 0) {
      std::string text = pcap_statustostr(status);
      const char* detail = pcap_geterr(pcap_);
      if (detail != nullptr && *detail != '\0' && text != detail) text += std::string(": ") + detail;
      return Fail(error, ProblemForPcapStatus(status), "pcap_activate: " + text);
    }
    nano_ = pcap_get_tstamp_precision(pcap_) == PCAP_TSTAMP_PRECISION_NANO;
    if (pcap_setnonblock(pcap_, 1, errbuf) != 0) return Fail(error, problem::kFailed, std::string("pcap_setnonblock: ") + errbuf);
    struct bpf_program program;
    if (pcap_compile(pcap_, &program, o.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      return Fail(error, problem::kBadFilter, "bad filter \"" + o.filter + "\": " + pcap_geterr(pcap_));
    }
    int rc = pcap_setfilter(pcap_, &program);
    pcap_freecode(&program);
    if (rc != 0) return Fail(error, problem::kBadFilter, std::string("pcap_setfilter: ") + pcap_geterr(pcap_));
    if (o.ignoreOutgoing && pcap_setdirection(pcap_, PCAP_D_IN) != 0) {
      return Fail(error, problem::kFailed, std::string("pcap_setdirection: ") + pcap_geterr(pcap_));
    }
    fd_ = pcap_get_selectable_fd(pcap_);
    if (fd_ < 0) return Fail(error, problem::kFailed, "libpcap has no selectable descriptor for this device");
    link_ = pcap_datalink(pcap_);
    return true;
  }

  const char* Backend() const override { return "native-pcap"; }
  int PollFd() const override { return fd_; }
  int LinkType() const override { return link_; }
  bool ZeroCopy() const override { return false; }
  uint8_t* Data() override { return buffer_; }
  size_t DataBytes() const override { return bufferBytes_; }
  void SetCopyBuffer(uint8_t* data, size_t bytes) override {
    buffer_ = data;
    bufferBytes_ = bytes;
  }

  bool Drain(BatchSink& sink, uint32_t budget, SourceError* error) override {
    if (pcap_ == nullptr) return true;
    sink_ = &sink;
    used_ = 0;
    uint32_t delivered = 0;
    while (delivered < budget) {
      uint32_t byRoom = static_cast<uint32_t>((bufferBytes_ - used_) / snap_);
      uint32_t room = std::min({sink.Capacity() - sink.Count(), byRoom, budget - delivered});
      if (room == 0) {
        if (!FlushBatch(sink)) return true;
        continue;
      }
      int n = pcap_dispatch(pcap_, static_cast<int>(room), &PcapSource::OnPacket, reinterpret_cast<u_char*>(this));
      if (n < 0) {
        if (n == PCAP_ERROR_BREAK) break;
        FlushBatch(sink);
        error->problem = n == PCAP_ERROR_IFACE_NOT_UP ? problem::kInterfaceDown : problem::kFailed;
        error->message = std::string("pcap_dispatch: ") + pcap_geterr(pcap_);
        return false;
      }
      delivered += static_cast<uint32_t>(n);
      if (static_cast<uint32_t>(n) < room) break;  // nothing more is ready
    }
    FlushBatch(sink);
    return true;
  }

  uint64_t KernelDrops() override {
    if (pcap_ != nullptr) {
      struct pcap_stat st;
      // libpcap accumulates PACKET_STATISTICS (which the kernel resets on every read) for us.
      if (pcap_stats(pcap_, &st) == 0) drops_ = st.ps_drop;
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

  void Close() override {
    if (pcap_ == nullptr) return;
    KernelDrops();
    pcap_close(pcap_);
    pcap_ = nullptr;
    fd_ = -1;
  }

 private:
  bool Fail(SourceError* error, const char* problem, const std::string& message) {
    error->problem = problem;
    error->message = message;
    Close();
    return false;
  }

  bool FlushBatch(BatchSink& sink) {
    bool open = sink.Flush();
    used_ = 0;
    return open;
  }

  static void OnPacket(u_char* user, const struct pcap_pkthdr* h, const u_char* bytes) {
    auto* self = reinterpret_cast<PcapSource*>(user);
    uint32_t caplen = std::min<uint32_t>(h->caplen, self->snap_);
    caplen = std::min<uint32_t>(caplen, static_cast<uint32_t>(self->bufferBytes_ - self->used_));
    memcpy(self->buffer_ + self->used_, bytes, caplen);
    uint32_t nsec = self->nano_ ? static_cast<uint32_t>(h->ts.tv_usec) : static_cast<uint32_t>(h->ts.tv_usec) * 1000u;
    self->sink_->Add(static_cast<uint32_t>(self->used_), caplen, h->len, static_cast<uint32_t>(h->ts.tv_sec), nsec);
    self->used_ += caplen;
  }

  pcap_t* pcap_ = nullptr;
  int fd_ = -1;
  int link_ = 1;
  bool nano_ = true;
  uint32_t snap_ = 262144;
  uint8_t* buffer_ = nullptr;
  size_t bufferBytes_ = 0;
  size_t used_ = 0;
  BatchSink* sink_ = nullptr;
  uint64_t drops_ = 0;
};

}  // namespace

std::unique_ptr<PacketSource> OpenPcapSource(const CaptureOptions& options, SourceError* error) {
  auto source = std::make_unique<PcapSource>();
  if (!source->Open(options, error)) return nullptr;
  return source;
}

}  // namespace offpath
