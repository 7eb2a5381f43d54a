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

// filter(insns: Uint32Array, frame: Uint8Array, caplen: number, wirelen: number) -> number:
// libpcap's own bpf_filter() over the frame. Not used per packet (bpf.ts is cheaper than a call
// into the addon, see bench/micro/trace-filter.ts); here to measure that, and as a cross-check.
Napi::Value Filter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[1].IsTypedArray()) {
    Napi::TypeError::New(env, "filter(insns, frame, caplen, wirelen)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint32Array w = info[0].As<Napi::Uint32Array>();
  Napi::Uint8Array frame = info[1].As<Napi::Uint8Array>();
  uint32_t caplen = info[2].As<Napi::Number>().Uint32Value();
  uint32_t wirelen = info[3].As<Napi::Number>().Uint32Value();
  size_t n = w.ElementLength() / 4;
  if (n == 0 || n > 256 || caplen > frame.ElementLength()) return Napi::Number::New(env, 0);
  struct bpf_insn insns[256];
  for (size_t i = 0; i < n; i++) {
    insns[i].code = static_cast<u_short>(w[i * 4]);
    insns[i].jt = static_cast<u_char>(w[i * 4 + 1]);
    insns[i].jf = static_cast<u_char>(w[i * 4 + 2]);
    insns[i].k = w[i * 4 + 3];
  }
  return Napi::Number::New(env, bpf_filter(insns, frame.Data(), wirelen, caplen));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("compile", Napi::Function::New(env, Compile));
  exports.Set("filter", Napi::Function::New(env, Filter));
  exports.Set("libpcapVersion", Napi::String::New(env, pcap_lib_version()));
  return exports;
}

}  // namespace

NODE_API_MODULE(tapvs_bpf, Init)
