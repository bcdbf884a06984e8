import { describe, expect, it } from 'vitest';
import { buildContentSecurityPolicy, withContentSecurityPolicy } from './content-security-policy.js';
import { createWebPreferences } from './web-preferences.js';

describe('createWebPreferences', () => {
  it('isolates and sandboxes the renderer, without Node', () => {
    const prefs = createWebPreferences('/app/dist/preload/preload.cjs', { packaged: true });
    expect(prefs).toMatchObject({
      preload: '/app/dist/preload/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      devTools: false,
    });
  });

  it('has DevTools only in development builds', () => {
    expect(createWebPreferences('/p', { packaged: true }).devTools).toBe(false);
    expect(createWebPreferences('/p', { packaged: false }).devTools).toBe(true);
  });
});

describe('buildContentSecurityPolicy', () => {
  function directives(csp: string): Map<string, string[]> {
    return new Map(
      csp.split('; ').map((d) => {
        const [name = '', ...values] = d.split(' ');
        return [name, values];
      }),
    );
  }

  it('allows only the app itself in production: no inline script, no eval, no remote origin', () => {
    const csp = directives(buildContentSecurityPolicy());
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('object-src')).toEqual(["'none'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    const all = [...csp.values()].flat();
    expect(all).not.toContain("'unsafe-eval'");
    expect(all).not.toContain("'unsafe-inline'");
    expect(all.some((v) => v.startsWith('http') || v.startsWith('ws') || v === '*')).toBe(false);
  });

  it('adds the dev server and its HMR socket in development', () => {
    const csp = directives(buildContentSecurityPolicy({ devServerOrigin: 'http://localhost:5173' }));
    expect(csp.get('script-src')).toContain('http://localhost:5173');
    expect(csp.get('connect-src')).toEqual(["'self'", 'http://localhost:5173', 'ws://localhost:5173']);
  });
});

describe('withContentSecurityPolicy', () => {
  it('replaces any CSP header of the response, whatever its case, and keeps the others', () => {
    const out = withContentSecurityPolicy(
      { 'content-security-policy': ['default-src *'], 'Content-Type': ['text/html'] },
      "default-src 'none'",
    );
    expect(out).toEqual({ 'Content-Type': ['text/html'], 'Content-Security-Policy': ["default-src 'none'"] });
  });

  it('works on a response without headers', () => {
    expect(withContentSecurityPolicy(undefined, 'x')).toEqual({ 'Content-Security-Policy': ['x'] });
  });
});
