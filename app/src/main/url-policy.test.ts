import { describe, expect, it } from 'vitest';
import { APP_INDEX_URL } from './app-protocol.js';
import { externalLinkQuestion, UrlPolicy } from './url-policy.js';

describe('UrlPolicy', () => {
  const policy = new UrlPolicy();
  const dev = new UrlPolicy({ devServerUrl: 'http://localhost:5173/' });

  describe('isAppUrl', () => {
    it("accepts the app scheme's pages with a hash or query", () => {
      expect(policy.isAppUrl(APP_INDEX_URL)).toBe(true);
      expect(policy.isAppUrl(`${APP_INDEX_URL}#/settings`)).toBe(true);
      expect(policy.isAppUrl('tether://app/assets/index-abc.js')).toBe(true);
    });

    it('refuses local files, other hosts of the scheme, remote pages and junk', () => {
      expect(policy.isAppUrl('file:///opt/Tether/resources/app.asar/dist/renderer/index.html')).toBe(false);
      expect(policy.isAppUrl('tether://evil/index.html')).toBe(false);
      expect(policy.isAppUrl('tether://user:pw@app/index.html')).toBe(false);
      expect(policy.isAppUrl('https://example.com/')).toBe(false);
      expect(policy.isAppUrl('http://localhost:5173/')).toBe(false);
      expect(policy.isAppUrl('not a url')).toBe(false);
      expect(policy.isAppUrl('')).toBe(false);
    });

    it('accepts the dev server origin only when one is configured', () => {
      expect(dev.isAppUrl('http://localhost:5173/#/activity')).toBe(true);
      expect(dev.isAppUrl('http://localhost:5174/')).toBe(false);
      expect(dev.isAppUrl('https://localhost:5173/')).toBe(false);
      expect(dev.isAppUrl('http://localhost.evil.com:5173/')).toBe(false);
    });
  });

  describe('isTrustedSender', () => {
    it('trusts only the app page in a main frame', () => {
      expect(policy.isTrustedSender({ url: APP_INDEX_URL, isMainFrame: true })).toBe(true);
      expect(policy.isTrustedSender({ url: APP_INDEX_URL, isMainFrame: false })).toBe(false);
      expect(policy.isTrustedSender({ url: 'https://example.com/', isMainFrame: true })).toBe(false);
      expect(policy.isTrustedSender(null)).toBe(false);
    });
  });

  describe('windowOpen', () => {
    it('always denies, sending only https links to the browser', () => {
      expect(policy.windowOpen('https://docs.example.com/')).toEqual({ action: 'deny', openExternally: true });
      expect(policy.windowOpen('http://docs.example.com/')).toEqual({ action: 'deny', openExternally: false });
      expect(policy.windowOpen('file:///etc/passwd')).toEqual({ action: 'deny', openExternally: false });
      expect(policy.windowOpen('javascript:alert(1)')).toEqual({ action: 'deny', openExternally: false });
      expect(policy.windowOpen(APP_INDEX_URL)).toEqual({ action: 'deny', openExternally: false });
    });
  });

  describe('allowNavigation', () => {
    it('refuses every navigation, even to an app URL', () => {
      expect(policy.allowNavigation('https://example.com/')).toBe(false);
      expect(policy.allowNavigation(APP_INDEX_URL)).toBe(false);
    });
  });

  describe('allowPermission', () => {
    it('grants notifications to the app page and nothing else', () => {
      expect(policy.allowPermission('notifications', APP_INDEX_URL)).toBe(true);
      expect(policy.allowPermission('notifications', 'https://example.com/')).toBe(false);
      for (const permission of ['media', 'geolocation', 'clipboard-read', 'openExternal', 'fullscreen']) {
        expect(policy.allowPermission(permission, APP_INDEX_URL)).toBe(false);
      }
    });
  });

  describe('constructor', () => {
    it('refuses a dev server that is not http(s)', () => {
      expect(() => new UrlPolicy({ devServerUrl: 'file:///x' })).toThrow(/http/);
    });
  });
});

describe('externalLinkQuestion', () => {
  it('opens only https links', () => {
    for (const url of [
      'http://github.com/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'tether://app/',
      'nonsense',
    ]) {
      expect(externalLinkQuestion(url), url).toBeNull();
    }
  });

  it('names the real host of a link dressed up as another', () => {
    expect(externalLinkQuestion('https://github.com@evil.example/login')).toEqual({
      url: 'https://github.com@evil.example/login',
      host: 'evil.example',
      warning: 'The link puts "github.com" before the address to look like another site: it goes to evil.example.',
    });
    expect(externalLinkQuestion('https://evil@github.com/')).toMatchObject({ host: 'github.com' });
    expect(externalLinkQuestion('https://a:b@github.com/')?.warning).toContain('"a:…"');
  });

  it('shows a look-alike international name in its ASCII form', () => {
    expect(externalLinkQuestion('https://gіthub.com/')?.host).toBe('xn--gthub-n2e.com');
  });

  it('asks without a warning for an ordinary link', () => {
    expect(externalLinkQuestion('https://docs.example.com/a?b=c')).toEqual({
      url: 'https://docs.example.com/a?b=c',
      host: 'docs.example.com',
    });
  });
});
