import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, formatPolicy, parsePolicyString } from './index.js';

describe('parsePolicyString', () => {
  it('parses the command-line form and keeps defaults for what is left out', () => {
    expect(parsePolicyString('read=allow,write=ask,shell=ask')).toEqual(DEFAULT_POLICY);
    expect(parsePolicyString('shell=deny')).toEqual({ ...DEFAULT_POLICY, shell: 'deny' });
    expect(parsePolicyString(' write = allow ')).toEqual({ ...DEFAULT_POLICY, write: 'allow' });
  });

  it.each(['read=yes', 'exec=allow', 'read', 'read=allow=ask'])('refuses %s with a message naming it', (text) => {
    expect(() => parsePolicyString(text)).toThrow(text.trim());
  });

  it('round-trips through formatPolicy', () => {
    const policy = parsePolicyString('read=deny,write=allow,shell=ask');
    expect(parsePolicyString(formatPolicy(policy))).toEqual(policy);
  });
});
