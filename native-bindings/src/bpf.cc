#include "bpf.h"

#include <pcap/pcap.h>
#include <pcap/dlt.h>

namespace offpath {

namespace {
constexpr unsigned kSllHeaderLength = 16;
constexpr unsigned kSllPacketTypeOffset = 0;
constexpr unsigned kSllProtocolOffset = 14;
}  // namespace

bool CompileProgram(const std::string& expression, int linkType, int snapLength, std::vector<sock_filter>* out,
                    std::string* error) {
  pcap_t* dead = pcap_open_dead(linkType, snapLength);
  if (dead == nullptr) {
    *error = "pcap_open_dead failed";
    return false;
  }
  struct bpf_program program;
  if (pcap_compile(dead, &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    *error = std::string("bad filter \"") + expression + "\": " + pcap_geterr(dead);
    pcap_close(dead);
    return false;
  }
  out->assign(program.bf_len, sock_filter{});
  for (unsigned i = 0; i < program.bf_len; i++) {
    (*out)[i].code = program.bf_insns[i].code;
    (*out)[i].jt = program.bf_insns[i].jt;
    (*out)[i].jf = program.bf_insns[i].jf;
    (*out)[i].k = program.bf_insns[i].k;
  }
  pcap_freecode(&program);
  pcap_close(dead);
  return true;
}

bool CompileFilter(const std::string& expression, int linkType, int snapLength, CompiledFilter* out, std::string* error) {
  std::vector<sock_filter> insns;
  if (!CompileProgram(expression, linkType, snapLength, &insns, error)) return false;
  out->userland.clear();
  if (linkType == DLT_LINUX_SLL) {
    std::vector<sock_filter> adapted = insns;
    if (AdaptToCookedSocket(&adapted)) {
      out->kernel = std::move(adapted);
    } else {
      out->userland = std::move(insns);
      out->kernel = {BPF_STMT(BPF_RET | BPF_K, 0x40000u)};
    }
  } else {
    out->kernel = std::move(insns);
  }
  return true;
}

bool AdaptToCookedSocket(std::vector<sock_filter>* program) {
  for (sock_filter& insn : *program) {
    unsigned cls = BPF_CLASS(insn.code);
    if (cls != BPF_LD && cls != BPF_LDX) continue;
    unsigned mode = BPF_MODE(insn.code);
    if (mode != BPF_ABS && mode != BPF_IND && mode != BPF_MSH) continue;
    if (insn.k >= kSllHeaderLength) {
      insn.k -= kSllHeaderLength;
    } else if (mode == BPF_ABS && insn.k == kSllPacketTypeOffset) {
      insn.k = static_cast<unsigned>(SKF_AD_OFF + SKF_AD_PKTTYPE);
    } else if (mode == BPF_ABS && insn.k == kSllProtocolOffset) {
      insn.k = static_cast<unsigned>(SKF_AD_OFF + SKF_AD_PROTOCOL);
    } else {
      return false;
    }
  }
  return true;
}

unsigned RunFilter(const std::vector<sock_filter>& program, const unsigned char* packet, unsigned wireLength,
                   unsigned capturedLength) {
  // struct bpf_insn (libpcap) and struct sock_filter (kernel) have the same layout.
  static_assert(sizeof(struct bpf_insn) == sizeof(sock_filter), "bpf_insn layout");
  return bpf_filter(reinterpret_cast<const struct bpf_insn*>(program.data()), packet, wireLength, capturedLength);
}

}  // namespace offpath
