import path from 'node:path';
import { MAX_NAME_BYTES } from '@tether/shared';

/**
 * Pure checks of path strings, parameterised by platform so the Windows rules are unit-tested
 * on Linux too. Nothing here touches the file system.
 */

/** Why a path string was refused before any file system access (never echoed with outside data). */
export type PathFormProblem =
  | 'nul_byte'
  | 'drive_path'
  | 'unc_path'
  | 'device_namespace'
  | 'device_name'
  | 'alternate_stream'
  | 'name_too_long'
  | 'url'
  | 'outside';

/** The outcome of splitting a caller's path into workspace-relative components. */
export type SplitPath = { ok: true; parts: string[] } | { ok: false; problem: PathFormProblem };

/** Windows reserves these names in every folder, with any extension (`nul.txt` opens the NUL device). */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|conin\$|conout\$|clock\$|(com|lpt)[0-9¹²³])(\..*)?$/i;

/** True when `name` is a Windows device name (trailing dots and spaces are ignored by Win32, so `CON .txt` counts). */
export function isWindowsDeviceName(name: string): boolean {
  const trimmed = name.replace(/[ .]+$/, '');
  const stem = trimmed.split('.')[0] ?? '';
  return WINDOWS_DEVICE.test(trimmed) || WINDOWS_DEVICE.test(stem.replace(/ +$/, ''));
}

/**
 * Splits a caller's path into normalised components relative to the workspace root.
 *
 * - Backslashes are separators on every platform, so a path means the same whatever OS the
 *   runtime runs on (`..\\..\\etc` is refused on Linux too, and a file whose name contains a
 *   backslash cannot be addressed: a deliberate trade).
 * - `~` is never expanded: `~/x` is a folder named `~` inside the workspace.
 * - URLs (`file:///etc/passwd`) are refused, never decoded.
 * - Drive-relative (`C:x`), UNC (`\\\\server\\share`) and device-namespace (`\\\\?\\`, `\\\\.\\`)
 *   forms are refused everywhere; a drive-absolute path (`C:\\x`) is refused except on Windows,
 *   where it is handled like an absolute path below. So a name like `a:b` cannot be used.
 * - Absolute paths are accepted only when lexically inside one of `roots` (the real root
 *   and the root as the person gave it); the caller then re-checks the real path.
 * - `..` is resolved lexically; a path that climbs above the root is refused.
 * - On Windows, device names (CON, NUL, COM1, …) and alternate data streams (`a:b`) are refused.
 */
export function splitWorkspacePath(
  input: string,
  roots: readonly string[],
  options: { platform: NodeJS.Platform; caseInsensitive: boolean },
): SplitPath {
  if (input.includes('\0')) return { ok: false, problem: 'nul_byte' };
  const p = input.replace(/\\/g, '/');
  // A URL is not a path: refused rather than taken as a folder named `file:` inside the workspace.
  if (/^[A-Za-z][A-Za-z0-9+.-]+:\/\//.test(p)) return { ok: false, problem: 'url' };
  if (p.startsWith('//')) {
    // `//?/`, `//./` are the device namespace; `//server/share` is UNC.
    return {
      ok: false,
      problem: /^\/\/[?.]\//.test(p) || p === '//?' || p === '//.' ? 'device_namespace' : 'unc_path',
    };
  }
  const win = options.platform === 'win32';
  const driveAbsolute = /^[A-Za-z]:\//.test(p);
  // `C:x` is relative to drive C's current folder, which is no place in a workspace.
  if (/^[A-Za-z]:/.test(p) && !(win && driveAbsolute)) return { ok: false, problem: 'drive_path' };
  let rel = p;
  if (p.startsWith('/') || driveAbsolute) {
    if (win && !driveAbsolute) return { ok: false, problem: 'drive_path' }; // rooted on the current drive
    const normal = win ? path.win32.normalize(p).replace(/\\/g, '/') : path.posix.normalize(p);
    const found = roots
      .map((root) => relativeInside(normal, toPosix(root), options.caseInsensitive))
      .find((r): r is string => r !== undefined);
    if (found === undefined) return { ok: false, problem: 'outside' };
    rel = found;
  }
  const parts: string[] = [];
  for (const part of rel.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return { ok: false, problem: 'outside' };
      parts.pop();
      continue;
    }
    if (Buffer.byteLength(part, 'utf8') > MAX_NAME_BYTES) return { ok: false, problem: 'name_too_long' };
    if (options.platform === 'win32') {
      if (part.includes(':')) return { ok: false, problem: 'alternate_stream' };
      if (isWindowsDeviceName(part)) return { ok: false, problem: 'device_name' };
      // Win32 drops trailing dots and spaces, so `..` + ` ` would climb: refuse the ambiguous forms.
      if (/^[. ]+$/.test(part) || /[. ]$/.test(part)) return { ok: false, problem: 'device_name' };
    }
    parts.push(part);
  }
  return { ok: true, parts };
}

function toPosix(p: string): string {
  return p.replace(/\\/g, '/');
}

/**
 * The part of `candidate` below `root` (posix, '' for the root itself), or undefined when
 * `candidate` is not `root` or below it. `/ws/proj-evil` is not below `/ws/proj`.
 */
export function relativeInside(candidate: string, root: string, caseInsensitive: boolean): string | undefined {
  const fold = (s: string): string => (caseInsensitive ? s.normalize('NFC').toLowerCase() : s);
  const c = trimSlash(toPosix(candidate));
  const r = trimSlash(toPosix(root));
  const cf = fold(c);
  const rf = fold(r);
  if (cf === rf) return '';
  const prefix = rf === '' ? '/' : `${rf}/`;
  if (!cf.startsWith(prefix)) return undefined;
  // Slice the original (unfolded) string: folding may change lengths, so re-split by components.
  const depth = r.split('/').length;
  return c.split('/').slice(depth).join('/');
}

/** True when `candidate` is `root` or inside it (see relativeInside). */
export function isInside(candidate: string, root: string, caseInsensitive: boolean): boolean {
  return relativeInside(candidate, root, caseInsensitive) !== undefined;
}

function trimSlash(p: string): string {
  if (/^[A-Za-z]:\/?$/.test(p)) return p.slice(0, 2);
  return p.length > 1 && p.endsWith('/') ? p.replace(/\/+$/, '') : p === '/' ? '' : p;
}
