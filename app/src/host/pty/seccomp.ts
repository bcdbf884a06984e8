/**
 * The seccomp filter a bubblewrap-sandboxed command runs under (`bwrap --seccomp FD`), built
 * here as classic BPF so no native helper is needed. It refuses what the namespaces and
 * mounts cannot: a unix socket that appears after the command started, in a folder the
 * command can see (the workspace itself, a home folder), or any abstract one shared with it.
 *
 * - `socket(AF_UNIX, …)` fails with EPERM: without a unix socket of its own a program can
 *   connect to no unix socket at all, by path or abstract name, whenever it was bound.
 *   `socketpair(AF_UNIX)` stays allowed: its two ends are connected to each other only and
 *   reach nothing outside the process tree (libuv, Node and Python use it for child stdio).
 * - `io_uring_setup` fails with ENOSYS: io_uring's socket operation would create a socket
 *   without the socket() system call, out of the filter's sight. Programs then use plain
 *   system calls (libuv and liburing fall back on any error).
 * - A system call from another ABI (32-bit x86 `int 0x80`, arm32 compat) kills the process:
 *   its numbers differ, so the checks above would not hold for it. On x86_64 the x32 ABI
 *   (numbers with bit 30 set) fails with EPERM for the same reason.
 * - Everything else is allowed: the filter narrows only the network, the rest is bubblewrap's.
 */

/** The architectures Tether builds a filter for: seccomp_data.arch values (AUDIT_ARCH_*) and system call numbers. */
const ARCHES = {
  x64: { audit: 0xc000003e, socket: 41, ioUringSetup: 425, x32: true },
  arm64: { audit: 0xc00000b7, socket: 198, ioUringSetup: 425, x32: false },
} as const;

export type SeccompArch = keyof typeof ARCHES;

// Classic BPF opcodes (linux/bpf_common.h) and seccomp return values (linux/seccomp.h).
const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_RET_K = 0x06;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const EPERM = 1;
const ENOSYS = 38;
const AF_UNIX = 1;
const X32_SYSCALL_BIT = 0x40000000;
// struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (little-endian: low half first).
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG0_LOW = 16;

/** One `struct sock_filter`: jt/jf are relative jumps (instructions skipped) when the test holds / fails. */
export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** The architecture of this process, or null where Tether has no filter for it. */
export function seccompArch(arch: string = process.arch): SeccompArch | null {
  return arch === 'x64' || arch === 'arm64' ? arch : null;
}

/** The filter for `arch` as instructions (see the file comment for what it does). */
export function unixSocketFilterProgram(arch: SeccompArch): BpfInstruction[] {
  const a = ARCHES[arch];
  const ins = (code: number, k: number, jt = 0, jf = 0): BpfInstruction => ({ code, jt, jf, k });
  // Labels are resolved at the end: each jump is written with the name of its target.
  const body: Array<BpfInstruction & { to?: [string, string] }> = [];
  const labels = new Map<string, number>();
  const jump = (code: number, k: number, whenTrue: string, whenFalse: string): void => {
    body.push({ ...ins(code, k), to: [whenTrue, whenFalse] });
  };
  const label = (name: string): void => {
    labels.set(name, body.length);
  };

  body.push(ins(BPF_LD_W_ABS, OFFSET_ARCH));
  jump(BPF_JEQ_K, a.audit, 'native', 'kill');
  label('native');
  body.push(ins(BPF_LD_W_ABS, OFFSET_NR));
  if (a.x32) {
    jump(BPF_JGE_K, X32_SYSCALL_BIT, 'eperm', 'notX32');
    label('notX32');
  }
  jump(BPF_JEQ_K, a.socket, 'socket', 'notSocket');
  label('notSocket');
  jump(BPF_JEQ_K, a.ioUringSetup, 'enosys', 'allow');
  label('socket');
  body.push(ins(BPF_LD_W_ABS, OFFSET_ARG0_LOW));
  jump(BPF_JEQ_K, AF_UNIX, 'eperm', 'allow');
  label('allow');
  body.push(ins(BPF_RET_K, SECCOMP_RET_ALLOW));
  label('eperm');
  body.push(ins(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM));
  label('enosys');
  body.push(ins(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS));
  label('kill');
  body.push(ins(BPF_RET_K, SECCOMP_RET_KILL_PROCESS));

  return body.map((instruction, at) => {
    const { to, ...plain } = instruction;
    if (!to) return plain;
    const [jt, jf] = to.map((name) => {
      const target = labels.get(name);
      if (target === undefined || target <= at) throw new Error(`bad seccomp label ${name}`);
      return target - at - 1;
    }) as [number, number];
    if (jt > 255 || jf > 255) throw new Error('seccomp jump too far');
    return { ...plain, jt, jf };
  });
}

/** The program as the bytes `bwrap --seccomp` reads: struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}, little-endian. */
export function encodeBpf(program: readonly BpfInstruction[]): Buffer {
  const out = Buffer.alloc(program.length * 8);
  program.forEach((p, i) => {
    out.writeUInt16LE(p.code, i * 8);
    out.writeUInt8(p.jt, i * 8 + 2);
    out.writeUInt8(p.jf, i * 8 + 3);
    out.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return out;
}

const cache = new Map<SeccompArch, Buffer>();

/** The encoded filter for `arch`, built once per process. */
export function unixSocketFilter(arch: SeccompArch): Buffer {
  let bytes = cache.get(arch);
  if (!bytes) {
    bytes = encodeBpf(unixSocketFilterProgram(arch));
    cache.set(arch, bytes);
  }
  return bytes;
}

/** prctl(2)'s number, for loaders that make the system call themselves. */
const PRCTL = { x64: 157, arm64: 167 } as const satisfies Record<SeccompArch, number>;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_SET_SECCOMP = 22;
const SECCOMP_MODE_FILTER = 2;

// Linux's values, the same on x86_64 and aarch64 (asm-generic).
const AF_INET = 2;
const SOCK_STREAM = 1;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const PR_SET_DUMPABLE = 4;

/**
 * A Perl program that starts a networked sandbox's command (`perl -e SOURCE filter socket port cmd…`):
 * 1. listens on the sandbox's own 127.0.0.1:`port` before anything else runs, so the command's
 *    first connection waits in the backlog at worst: no readiness to wait for, nothing polls;
 * 2. forks the forwarder, detached (double fork: the command never finds it among its own
 *    children), which makes itself non-dumpable (no ptrace, no /proc/<pid>/mem or fd for the
 *    command) and, for each connection, connects to the host proxy's unix `socket` and copies
 *    bytes both ways, one process per direction (no direction waits on the other; each end
 *    is half-closed when its source ends);
 * 3. loads the seccomp filter from the file `filter` into itself with prctl, Perl's `syscall`
 *    making the call directly (no module, no native code), and becomes the command, which
 *    inherits the filter; the forwarder, forked before, does not.
 * One Perl, already running, does what a shell, socat and a second bubblewrap would. The
 * socket constants are Linux's; struct sock_fprog is {u16 len; pad; pointer}.
 */
export function perlLauncher(arch: SeccompArch): string {
  const prctl = PRCTL[arch];
  return [
    // Set by bwrap for this Perl alone: no locale warning on the command's terminal.
    'delete $ENV{PERL_BADLANG};',
    'my ($filter, $sock, $port) = splice(@ARGV, 0, 3);',
    `socket(my $l, ${AF_INET}, ${SOCK_STREAM}, 0) or die "tether-sandbox: socket: $!\n";`,
    `setsockopt($l, ${SOL_SOCKET}, ${SO_REUSEADDR}, pack("i", 1));`,
    `bind($l, pack("S n C4 x8", ${AF_INET}, $port, 127, 0, 0, 1)) or die "tether-sandbox: bind 127.0.0.1:$port: $!\n";`,
    'listen($l, 128) or die "tether-sandbox: listen: $!\n";',
    'my $pid = fork() // die "tether-sandbox: fork: $!\n";',
    'if (!$pid) {',
    '  exit 0 if fork();',
    `  syscall(${prctl}, ${PR_SET_DUMPABLE}, 0, 0, 0, 0);`,
    '  open(STDIN, "<", "/dev/null"); open(STDOUT, ">", "/dev/null"); open(STDERR, ">", "/dev/null");',
    '  $SIG{CHLD} = "IGNORE"; $SIG{PIPE} = "IGNORE";',
    '  while (1) {',
    '    accept(my $c, $l) or next;',
    '    my $k = fork(); if (!defined $k || $k) { close $c; next }',
    '    close $l;',
    `    socket(my $u, 1, ${SOCK_STREAM}, 0) or exit 1;`,
    '    connect($u, pack("S a*", 1, $sock)) or exit 1;',
    '    my $d = fork() // exit 1;',
    '    my ($from, $to) = $d ? ($c, $u) : ($u, $c);',
    '    while (1) {',
    '      my $n = sysread($from, my $buf, 65536);',
    '      last if !$n;',
    '      for (my $off = 0; $off < $n;) { my $w = syswrite($to, $buf, $n - $off, $off); exit 0 if !defined $w; $off += $w }',
    '    }',
    '    shutdown($to, 1);',
    '    exit 0;',
    '  }',
    '}',
    'waitpid($pid, 0); close $l;',
    'if (length $filter) {',
    '  open(my $f, "<", $filter) or die "tether-sandbox: cannot read the seccomp filter $filter: $!\n";',
    '  binmode $f; my $p = do { local $/; <$f> }; close $f;',
    '  die "tether-sandbox: bad seccomp filter\n" if !length($p) || length($p) % 8;',
    '  my $fprog = pack("S x![P] P", length($p) / 8, $p);',
    `  syscall(${prctl}, ${PR_SET_NO_NEW_PRIVS}, 1, 0, 0, 0) == 0 or die "tether-sandbox: no_new_privs: $!\n";`,
    `  syscall(${prctl}, ${PR_SET_SECCOMP}, ${SECCOMP_MODE_FILTER}, $fprog, 0, 0) == 0 or die "tether-sandbox: seccomp: $!\n";`,
    '}',
    'exec { $ARGV[0] } @ARGV or die "tether-sandbox: cannot run $ARGV[0]: $!\n";',
  ].join('\n');
}
