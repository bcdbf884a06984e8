import { describe, expect, it } from 'vitest';
import {
  CLOSE_CODES,
  DEFAULT_POLICY,
  deviceKeyFingerprint,
  deviceProofMessage,
  MAX_FRAME_BYTES,
  MAX_JSON_DEPTH,
  parseAppFrame,
  parseRelayFrame,
  PROTOCOL_VERSION,
  utf8ByteLength,
  countUtf8Bytes,
} from './index.js';

const announcement = {
  workspaceId: 'ws_1',
  name: 'Project',
  description: 'A folder',
  state: 'running',
  capabilities: { policy: DEFAULT_POLICY, tools: ['read_file', 'write_file'] },
};

const validAppFrames: Record<string, unknown> = {
  hello: {
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    device: { deviceId: 'dev_1', name: 'laptop', os: 'linux' },
    appVersion: '0.1.0',
    workspaces: [announcement],
  },
  workspaces: { type: 'workspaces', workspaces: [{ ...announcement, state: 'error', reason: 'folder is gone' }] },
  progress: { type: 'progress', id: 'call_1', status: 'output', chunk: 'hello\n' },
  resultOk: { type: 'result', id: 'call_1', ok: true, value: { content: 'x' } },
  resultError: { type: 'result', id: 'call_1', ok: false, error: { code: 'not_found', message: 'No such file' } },
  event: {
    type: 'event',
    events: [
      { kind: 'files', workspaceId: 'ws_1', changes: [{ path: 'a.txt', change: 'add' }] },
      { kind: 'health', workspaceId: 'ws_1', state: 'running' },
    ],
  },
  helloWithProof: {
    type: 'hello',
    protocolVersion: PROTOCOL_VERSION,
    device: { deviceId: 'dev_1', name: 'laptop', os: 'linux' },
    appVersion: '0.1.0',
    workspaces: [],
    proof: { publicKey: 'k'.repeat(43), relayHost: 'relay.example', signature: 's'.repeat(86) },
  },
};

const validRelayFrames: Record<string, unknown> = {
  welcome: {
    type: 'welcome',
    sessionId: 's_1',
    runtimes: [{ workspaceId: 'ws_1', runtimeId: 'rt_1' }],
    limits: { maxFrameBytes: 1024, maxInFlightPerRuntime: 4 },
    heartbeatIntervalMs: 15000,
  },
  runtimes: { type: 'runtimes', runtimes: [] },
  call: {
    type: 'call',
    id: 'call_1',
    runtimeId: 'rt_1',
    workspaceId: 'ws_1',
    tool: 'read_file',
    args: { path: 'a' },
    deadline: Date.now() + 1000,
    caller: 'stage build',
  },
  cancel: { type: 'cancel', id: 'call_1' },
  refused: {
    type: 'refused',
    id: 'call_1',
    runtimeId: 'rt_1',
    workspaceId: 'ws_1',
    tool: 'write_file',
    caller: 'agent',
    code: 'runtime_paused',
    at: 1760000000000,
  },
  challenge: { type: 'challenge', nonce: 'n'.repeat(43) },
  notice: { type: 'notice', kind: 'device_claim_refused', at: '2026-12-03T11:00:00.000Z' },
};

describe('parseAppFrame', () => {
  it.each(Object.entries(validAppFrames))('accepts a valid %s frame', (_name, frame) => {
    const parsed = parseAppFrame(JSON.stringify(frame));
    expect(parsed.ok ? 'ok' : parsed.error.message).toBe('ok');
  });

  it.each<[string, unknown, string]>([
    ['unknown type', { type: 'launch_missiles' }, 'type'],
    ['hello without device', { ...(validAppFrames.hello as object), device: undefined }, 'device'],
    [
      'hello with a bad policy',
      {
        ...(validAppFrames.hello as object),
        workspaces: [
          { ...announcement, capabilities: { policy: { read: 'yes', write: 'ask', shell: 'ask' }, tools: [] } },
        ],
      },
      'workspaces.0.capabilities.policy.read',
    ],
    [
      'hello with an unknown tool',
      {
        ...(validAppFrames.hello as object),
        workspaces: [{ ...announcement, capabilities: { policy: DEFAULT_POLICY, tools: ['format_disk'] } }],
      },
      'workspaces.0.capabilities.tools.0',
    ],
    ['progress with a bad status', { type: 'progress', id: 'c', status: 'sleeping' }, 'status'],
    [
      'result with an unknown error code',
      { type: 'result', id: 'c', ok: false, error: { code: 'whatever', message: 'x' } },
      'error.code',
    ],
    ['result id with spaces', { type: 'result', id: 'a b', ok: true, value: 1 }, 'id'],
    ['event with no events', { type: 'event', events: [] }, 'events'],
    ['extra fields', { ...(validAppFrames.progress as object), sneaky: true }, 'sneaky'],
    [
      'hello with a short public key',
      {
        ...(validAppFrames.helloWithProof as object),
        proof: { publicKey: 'k'.repeat(42), relayHost: 'relay.example', signature: 's'.repeat(86) },
      },
      'proof.publicKey',
    ],
    [
      'hello with a padded signature',
      {
        ...(validAppFrames.helloWithProof as object),
        proof: { publicKey: 'k'.repeat(43), relayHost: 'relay.example', signature: 's'.repeat(84) + '==' },
      },
      'proof.signature',
    ],
  ])('rejects %s, naming the field', (_name, frame, field) => {
    const parsed = parseAppFrame(JSON.stringify(frame));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.error.code).toBe('invalid_request');
      expect(parsed.error.message).toContain(field);
      expect(parsed.closeCode).toBe(CLOSE_CODES.protocolError);
    }
  });

  it('rejects text that is not JSON', () => {
    const parsed = parseAppFrame('{not json');
    expect(parsed).toMatchObject({ ok: false, closeCode: CLOSE_CODES.protocolError });
  });

  it('rejects a frame relay-side only (a call sent by the app)', () => {
    expect(parseAppFrame(JSON.stringify(validRelayFrames.call)).ok).toBe(false);
  });

  it('rejects frames over the size limit before parsing them', () => {
    const big = JSON.stringify({ type: 'progress', id: 'c', status: 'output', chunk: 'x'.repeat(2000) });
    const parsed = parseAppFrame(big, 1000);
    expect(parsed).toMatchObject({ ok: false, closeCode: CLOSE_CODES.tooLarge, error: { code: 'too_large' } });
  });

  it('counts multi-byte characters against the limit', () => {
    const text = JSON.stringify({ type: 'progress', id: 'c', status: 'output', chunk: 'é'.repeat(600) });
    expect(text.length).toBeLessThan(1000);
    expect(parseAppFrame(text, 1000).ok).toBe(false);
  });

  it('rejects oversized values inside a frame', () => {
    const frame = { ...(validAppFrames.hello as object), workspaces: [{ ...announcement, name: 'n'.repeat(10_000) }] };
    const parsed = parseAppFrame(JSON.stringify(frame));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error.message).toContain('workspaces.0.name');
  });
});

describe('parseRelayFrame', () => {
  it.each(Object.entries(validRelayFrames))('accepts a valid %s frame', (_name, frame) => {
    const parsed = parseRelayFrame(JSON.stringify(frame));
    expect(parsed.ok ? 'ok' : parsed.error.message).toBe('ok');
  });

  it.each<[string, unknown, string]>([
    ['call of an unknown tool', { ...(validRelayFrames.call as object), tool: 'rm' }, 'tool'],
    ['call without a deadline', { ...(validRelayFrames.call as object), deadline: undefined }, 'deadline'],
    ['call with a huge caller label', { ...(validRelayFrames.call as object), caller: 'c'.repeat(1000) }, 'caller'],
    [
      'welcome with a zero heartbeat',
      { ...(validRelayFrames.welcome as object), heartbeatIntervalMs: 0 },
      'heartbeatIntervalMs',
    ],
    ['cancel without id', { type: 'cancel' }, 'id'],
    ['refused with a code that is no refusal', { ...(validRelayFrames.refused as object), code: 'internal' }, 'code'],
    [
      'refused with a huge caller label',
      { ...(validRelayFrames.refused as object), caller: 'c'.repeat(1000) },
      'caller',
    ],
    ['refused with arguments', { ...(validRelayFrames.refused as object), args: { path: 'a' } }, 'args'],
    ['an app frame', validAppFrames.hello, 'type'],
  ])('rejects %s, naming the field', (_name, frame, field) => {
    const parsed = parseRelayFrame(JSON.stringify(frame));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error.message).toContain(field);
  });

  it('uses MAX_FRAME_BYTES by default', () => {
    const frame = { type: 'cancel', id: 'c', reason: 'r' };
    expect(parseRelayFrame(JSON.stringify(frame)).ok).toBe(true);
    expect(MAX_FRAME_BYTES).toBeGreaterThan(1024 * 1024);
  });
});

describe('utf8ByteLength', () => {
  it('matches the UTF-8 encoding for ASCII, accents, CJK and emoji', () => {
    for (const text of ['', 'abc', 'é', '日本語', '👍🏽', 'a\u0000b']) {
      expect(utf8ByteLength(text)).toBe(new TextEncoder().encode(text).length);
      expect(countUtf8Bytes(text)).toBe(new TextEncoder().encode(text).length);
    }
  });

  it('counts natively under Node: a JS loop over every char code is not the path taken', () => {
    // Observable without timing: the JS count treats a lone high surrogate as 4 bytes with the
    // character after it; UTF-8 encoding (what Buffer.byteLength counts) writes U+FFFD (3) and then it.
    const lone = '\ud800\ud800';
    expect(countUtf8Bytes(lone)).toBe(4);
    expect(utf8ByteLength(lone)).toBe(Buffer.byteLength(lone));
    expect(utf8ByteLength(lone)).toBe(6);
  });
});

describe('frame depth and key bounds', () => {
  it('refuses a frame nested past MAX_JSON_DEPTH before parsing it, on both ends, with tooComplex', () => {
    const deep = `{"type":"result","id":"call_1","ok":true,"value":${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}}`;
    for (const parse of [parseAppFrame, parseRelayFrame])
      expect(parse(deep)).toMatchObject({ ok: false, closeCode: CLOSE_CODES.tooComplex, error: { code: 'too_large' } });
    // One level less is a frame like any other.
    const fits = `{"type":"result","id":"call_1","ok":true,"value":${'['.repeat(MAX_JSON_DEPTH - 1)}${']'.repeat(MAX_JSON_DEPTH - 1)}}`;
    expect(parseAppFrame(fits).ok).toBe(true);
  });

  it('refuses a 7 MiB bracket frame at once (it used to cost seconds and hundreds of MiB)', () => {
    const frame = '['.repeat(3_800_000) + ']'.repeat(3_800_000);
    expect(parseRelayFrame(frame)).toMatchObject({ ok: false, closeCode: CLOSE_CODES.tooComplex });
  });
});

describe('deviceProofMessage', () => {
  it('names the relay host in lower case, the device, the nonce and the key, unambiguously', () => {
    const parts = { relayHost: 'Relay.Example:8443', deviceId: 'dev_1', nonce: 'n1', publicKey: 'k1' };
    expect(deviceProofMessage(parts)).toBe('["tether-device-proof/1","relay.example:8443","dev_1","n1","k1"]');
    expect(deviceProofMessage({ ...parts, nonce: 'n2' })).not.toBe(deviceProofMessage(parts));
    expect(deviceProofMessage({ ...parts, relayHost: 'other.example' })).not.toBe(deviceProofMessage(parts));
  });
});

describe('deviceKeyFingerprint', () => {
  it('shows the first 16 characters in groups of four', () => {
    expect(deviceKeyFingerprint('abcdEFGHijkl_-01rest')).toBe('abcd-EFGH-ijkl-_-01');
  });
});

describe('OAuth consent frames', () => {
  const approve = {
    type: 'oauth_answer',
    requestId: 'oar_1',
    approve: true,
    shortCode: 'ABCD2345',
    workspaceIds: ['ws_1'],
    categories: ['read'],
    ttlSeconds: 3600,
  };

  it('accepts an approval, a denial and a revocation', () => {
    expect(parseAppFrame(JSON.stringify(approve)).ok).toBe(true);
    expect(parseAppFrame(JSON.stringify({ type: 'oauth_answer', requestId: 'oar_1', approve: false })).ok).toBe(true);
    expect(parseAppFrame(JSON.stringify({ type: 'oauth_revoke', authorizationId: 'oau_1' })).ok).toBe(true);
  });

  it('refuses an approval of nothing, of an unknown category, or beyond the longest duration', () => {
    for (const bad of [
      { ...approve, workspaceIds: [] },
      { ...approve, categories: ['admin'] },
      { ...approve, ttlSeconds: 10 ** 9 },
      { ...approve, shortCode: 'ABC' },
      { ...approve, runtimeIds: ['rt_1'] },
    ])
      expect(parseAppFrame(JSON.stringify(bad)).ok).toBe(false);
  });

  it('accepts a consent request and a list of approved clients from the relay', () => {
    const consent = {
      requestId: 'oar_1',
      clientId: 'https://client.example/meta.json',
      clientName: 'Claude',
      redirectHost: 'claude.ai',
      shortCode: 'ABCD2345',
      runtimeId: null,
      requestedCategories: ['read'],
      createdAt: 1,
      expiresAt: 2,
    };
    expect(parseRelayFrame(JSON.stringify({ type: 'oauth_consent', consent })).ok).toBe(true);
    expect(parseRelayFrame(JSON.stringify({ type: 'oauth_consent', consent: { ...consent, extra: 1 } })).ok).toBe(
      false,
    );
    expect(parseRelayFrame(JSON.stringify({ type: 'oauth_authorizations', authorizations: [] })).ok).toBe(true);
  });
});
