import { describe, expect, it } from 'vitest';
import {
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  seccompArch,
  unixSocketFilter,
  unixSocketFilterProgram,
  type SeccompArch,
} from './seccomp.js';

/** What the kernel hands the filter: struct seccomp_data, little-endian. */
function seccompData(nr: number, arch: number, arg0: bigint = 0n): Buffer {
  const data = Buffer.alloc(64);
  data.writeInt32LE(nr, 0);
  data.writeUInt32LE(arch, 4);
  data.writeBigUInt64LE(arg0, 16);
  return data;
}

/**
 * Runs encoded classic BPF the way the kernel's seccomp does, for the instructions a filter
 * may use here (absolute word loads, jeq/jge/jgt/jset on a constant, return a constant);
 * any other opcode fails the test rather than being guessed at.
 */
function runBpf(program: Buffer, data: Buffer): number {
  let acc = 0;
  for (let pc = 0; pc * 8 < program.length; pc++) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    switch (code) {
      case 0x20: // BPF_LD | BPF_W | BPF_ABS
        if (k % 4 !== 0 || k + 4 > data.length) throw new Error(`bad load offset ${k}`);
        acc = data.readUInt32LE(k);
        break;
      case 0x15: // BPF_JMP | BPF_JEQ | BPF_K
        pc += acc === k ? jt : jf;
        break;
      case 0x35: // BPF_JMP | BPF_JGE | BPF_K
        pc += acc >= k ? jt : jf;
        break;
      case 0x06: // BPF_RET | BPF_K
        return k;
      default:
        throw new Error(`opcode 0x${code.toString(16)} not understood by this test`);
    }
    if ((pc + 1) * 8 > program.length) throw new Error('jumped past the end');
  }
  throw new Error('fell off the end of the program');
}

const AUDIT = { x64: 0xc000003e, arm64: 0xc00000b7, i386: 0x40000003, arm: 0x40000028 };
const SOCKET = { x64: 41, arm64: 198 };
const AF_UNIX = 1n;
const AF_INET = 2n;
const EPERM = SECCOMP_RET_ERRNO | 1;
const ENOSYS = SECCOMP_RET_ERRNO | 38;

describe.each(['x64', 'arm64'] as const)('the unix socket filter for %s', (arch: SeccompArch) => {
  const program = unixSocketFilter(arch);
  const run = (nr: number, arg0?: bigint, audit: number = AUDIT[arch]) => runBpf(program, seccompData(nr, audit, arg0));

  it('refuses socket(AF_UNIX) with EPERM, whatever the upper half of the argument (the kernel reads an int)', () => {
    expect(run(SOCKET[arch], AF_UNIX)).toBe(EPERM);
    expect(run(SOCKET[arch], AF_UNIX | (1n << 32n))).toBe(EPERM);
  });

  it('allows other socket families and other system calls', () => {
    expect(run(SOCKET[arch], AF_INET)).toBe(SECCOMP_RET_ALLOW);
    expect(run(SOCKET[arch], 10n)).toBe(SECCOMP_RET_ALLOW); // AF_INET6
    expect(run(0, AF_UNIX)).toBe(SECCOMP_RET_ALLOW);
    // socketpair(AF_UNIX): x86_64 53, aarch64 199. Its ends reach only each other.
    expect(run(arch === 'x64' ? 53 : 199, AF_UNIX)).toBe(SECCOMP_RET_ALLOW);
  });

  it('refuses io_uring_setup (its socket operation would bypass the check) with ENOSYS', () => {
    expect(run(425)).toBe(ENOSYS);
  });

  it('kills a process making system calls of another ABI, whose numbers differ', () => {
    expect(run(SOCKET[arch], AF_UNIX, arch === 'x64' ? AUDIT.i386 : AUDIT.arm)).toBe(SECCOMP_RET_KILL_PROCESS);
    expect(run(102, AF_UNIX, AUDIT.i386)).toBe(SECCOMP_RET_KILL_PROCESS); // i386 socketcall
  });

  it('has jumps that stay inside the program, and is small', () => {
    const instructions = unixSocketFilterProgram(arch);
    instructions.forEach((ins, at) => {
      if (ins.code === 0x15 || ins.code === 0x35) {
        expect(at + 1 + ins.jt).toBeLessThan(instructions.length);
        expect(at + 1 + ins.jf).toBeLessThan(instructions.length);
      }
    });
    expect(program.length).toBe(instructions.length * 8);
    expect(instructions.length).toBeLessThan(20);
  });
});

describe('the x32 ABI on x86_64', () => {
  it('is refused with EPERM (bit 30 of the number set: socket is 0x40000029 there)', () => {
    expect(runBpf(unixSocketFilter('x64'), seccompData(0x40000029, AUDIT.x64, AF_UNIX))).toBe(EPERM);
    expect(runBpf(unixSocketFilter('x64'), seccompData(0x40000000, AUDIT.x64))).toBe(EPERM);
  });
});

describe('seccompArch', () => {
  it('names the CPUs with a filter and no other', () => {
    expect(seccompArch('x64')).toBe('x64');
    expect(seccompArch('arm64')).toBe('arm64');
    expect(seccompArch('ia32')).toBeNull();
    expect(seccompArch('riscv64')).toBeNull();
  });
});
