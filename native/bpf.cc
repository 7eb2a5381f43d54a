// tapvs_bpf: compiles a tcpdump/libpcap filter expression into classic BPF with libpcap itself,
// so `tapvsd trace tcp port 80` accepts exactly what tcpdump accepts (src/trace/bpf.ts runs the
// program over each traced frame).
//
// compile(expr: string, snaplen: number) -> Uint32Array of 4 words per instruction
// (code, jt, jf, k), as struct bpf_insn. A bad expression throws an Error whose message is
// pcap_geterr()'s, the text tcpdump prints. The link type is Ethernet (DLT_EN10MB): tapvs links
// are TAP devices. The program is optimized (pcap_compile's optimize = 1, as tcpdump does) and
// the netmask is PCAP_NETMASK_UNKNOWN (only `ip broadcast` needs it; libpcap then refuses it).
//
// A separate addon from tapvs_tap, loaded only when a trace starts: the daemon runs on a machine
// without libpcap as long as nobody traces.
#include <napi.h>
#include <pcap/pcap.h>

#include <string>

namespace {

Napi::Value Compile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "compile(expr: string, snaplen: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string expr = info[0].As<Napi::String>().Utf8Value();
  int snaplen = info[1].As<Napi::Number>().Int32Value();
  pcap_t* p = pcap_open_dead(DLT_EN10MB, snaplen);
  if (p == nullptr) {
    Napi::Error::New(env, "pcap_open_dead failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct bpf_program prog;
  if (pcap_compile(p, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    std::string msg = pcap_geterr(p);
    pcap_close(p);
    Napi::Error::New(env, msg).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint32Array out = Napi::Uint32Array::New(env, static_cast<size_t>(prog.bf_len) * 4);
  for (u_int i = 0; i < prog.bf_len; i++) {
    const struct bpf_insn& in = prog.bf_insns[i];
    out[i * 4] = in.code;
    out[i * 4 + 1] = in.jt;
    out[i * 4 + 2] = in.jf;
    out[i * 4 + 3] = in.k;
  }
  pcap_freecode(&prog);
  pcap_close(p);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("compile", Napi::Function::New(env, Compile));
  exports.Set("libpcapVersion", Napi::String::New(env, pcap_lib_version()));
  return exports;
}

}  // namespace

NODE_API_MODULE(tapvs_bpf, Init)
