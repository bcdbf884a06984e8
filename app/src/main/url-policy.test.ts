import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UrlPolicy } from './url-policy.js';

const indexUrl = pathToFileURL('/opt/Tether/resources/app.asar/dist/renderer/index.html').href;

describe('UrlPolicy', () => {
  const policy = new UrlPolicy({ rendererIndexUrl: indexUrl });
  const dev = new UrlPolicy({ rendererIndexUrl: indexUrl, devServerUrl: 'http://localhost:5173/' });

  describe('isAppUrl', () => {
    it('accepts the renderer page with a hash or query', () => {
      expect(policy.isAppUrl(indexUrl)).toBe(true);
      expect(policy.isAppUrl(`${indexUrl}#/settings`)).toBe(true);
      expect(policy.isAppUrl(`${indexUrl}?x=1`)).toBe(true);
    });

    it('refuses other local files, UNC hosts, remote pages and junk', () => {
      expect(policy.isAppUrl(pathToFileURL('/tmp/evil.html').href)).toBe(false);
      expect(policy.isAppUrl(pathToFileURL('/opt/Tether/resources/app.asar/dist/renderer/other.html').href)).toBe(false);
      expect(policy.isAppUrl('file://evil-host/opt/Tether/resources/app.asar/dist/renderer/index.html')).toBe(false);
      expect(policy.isAppUrl('https://example.com/')).toBe(false);
      expect(policy.isAppUrl('http://localhost:5173/')).toBe(false);
      expect(policy.isAppUrl('not a url')).toBe(false);
      expect(policy.isAppUrl('')).toBe(false);
    });

    it('accepts the dev server origin only when one is configured', () => {
      expect(dev.isAppUrl('http://localhost:5173/#/activity')).toBe(true);
      expect(dev.isAppUrl('http://localhost:5174/')).toBe(false);
      expect(dev.isAppUrl('http://localhost.evil.com:5173/')).toBe(false);
    });

    it('matches paths case-insensitively only where the file system does', () => {
      const upper = indexUrl.replace('/opt/Tether/', '/OPT/tether/');
      expect(policy.isAppUrl(upper)).toBe(false);
      expect(new UrlPolicy({ rendererIndexUrl: indexUrl, caseInsensitivePaths: true }).isAppUrl(upper)).toBe(true);
    });

    it('treats percent-encoding of the same path as the same page', () => {
      const spaced = new UrlPolicy({ rendererIndexUrl: pathToFileURL('/Applications/My Apps/Tether.app/index.html').href });
      expect(spaced.isAppUrl('file:///Applications/My%20Apps/Tether.app/index.html')).toBe(true);
    });
  });

  describe('isTrustedSender', () => {
    it('trusts only the app page in a main frame', () => {
      expect(policy.isTrustedSender({ url: indexUrl, isMainFrame: true })).toBe(true);
      expect(policy.isTrustedSender({ url: indexUrl, isMainFrame: false })).toBe(false);
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
    });
  });

  describe('allowNavigation', () => {
    it('refuses every navigation, even to an app URL', () => {
      expect(policy.allowNavigation('https://example.com/')).toBe(false);
      expect(policy.allowNavigation(indexUrl)).toBe(false);
    });
  });

  describe('allowPermission', () => {
    it('grants notifications to the app page and nothing else', () => {
      expect(policy.allowPermission('notifications', indexUrl)).toBe(true);
      expect(policy.allowPermission('notifications', 'https://example.com/')).toBe(false);
      for (const permission of ['media', 'geolocation', 'clipboard-read', 'openExternal', 'fullscreen']) {
        expect(policy.allowPermission(permission, indexUrl)).toBe(false);
      }
    });
  });

  describe('constructor', () => {
    it('refuses a renderer URL that is not a file URL and a dev server that is not http', () => {
      expect(() => new UrlPolicy({ rendererIndexUrl: 'https://example.com/index.html' })).toThrow(/file:\/\//);
      expect(() => new UrlPolicy({ rendererIndexUrl: indexUrl, devServerUrl: 'file:///x' })).toThrow(/http/);
    });
  });
});
