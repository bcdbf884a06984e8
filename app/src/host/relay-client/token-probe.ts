import { readFile } from 'node:fs/promises';
import WebSocket from 'ws';
import { TOKEN_PREFIXES, TetherError } from '@tether/shared';
import { describeNetworkError } from './connection-failure.js';
import { connectUrlOf } from './connect-url.js';

/** How long checking a new token may take: the relay's upgrade answer, on a slow link. */
export const TOKEN_PROBE_TIMEOUT_MS = 10_000;

/**
 * Refuses, with `token_refused`, a token that is plainly not a desktop token: a platform key
 * or a grant pasted into the wrong place (it would be sent to the relay as a desktop's
 * credential and refused anyway, after the working token was thrown away).
 */
export function checkTokenShape(token: string): void {
  if (token.startsWith(TOKEN_PREFIXES.platform))
    throw new TetherError(
      'token_refused',
      'This is a platform key (tpk_…): it lets a platform call runtimes and does not belong on this computer. Tether Desktop needs a desktop token (tdt_…). The token in use was kept.',
      { reason: 'platform_key' },
    );
  if (token.startsWith(TOKEN_PREFIXES.grant))
    throw new TetherError(
      'token_refused',
      'This is a grant (tgr_…) for a platform, not a desktop token (tdt_…). The token in use was kept.',
      { reason: 'grant' },
    );
  if (!token.startsWith(TOKEN_PREFIXES.desktop))
    throw new TetherError(
      'token_refused',
      'A desktop token starts with tdt_; this one does not. Check that it was copied whole. The token in use was kept.',
      { reason: 'shape' },
    );
}

/**
 * Asks the relay whether it takes `token` as a desktop token, the way a connection would (the
 * WebSocket upgrade), and hangs up before saying hello. Rejects with `token_refused` when the
 * relay refuses it and `unavailable` when the relay cannot be asked; resolves when it is taken.
 */
export async function probeDesktopToken(options: {
  relayUrl: string;
  token: string;
  caFile?: string | undefined;
}): Promise<void> {
  const url = connectUrlOf(options.relayUrl);
  const ca = options.caFile !== undefined && url.protocol === 'wss:' ? await readFile(options.caFile) : undefined;
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const done = (err?: TetherError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, {
        headers: { Authorization: `Bearer ${options.token}` },
        handshakeTimeout: TOKEN_PROBE_TIMEOUT_MS,
        perMessageDeflate: false,
        followRedirects: false,
        ...(ca !== undefined ? { ca } : {}),
      });
    } catch (err) {
      done(new TetherError('token_refused', `This token cannot be sent: ${(err as Error).message}`));
      return;
    }
    const timer = setTimeout(() => {
      ws.terminate();
      done(unreachable('the relay did not answer in time'));
    }, TOKEN_PROBE_TIMEOUT_MS);
    ws.on('unexpected-response', (req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      req.destroy();
      ws.terminate();
      done(
        status === 401 || status === 403
          ? new TetherError(
              'token_refused',
              `The relay refused this token (HTTP ${status}): it may be mistyped, revoked, or for another relay. The token in use was kept.`,
              { reason: 'refused', status },
            )
          : unreachable(`the relay answered HTTP ${status}`),
      );
    });
    ws.on('error', (err) => done(unreachable(describeNetworkError(err))));
    ws.on('open', () => {
      // Taken. Hanging up before `hello`: the relay binds no device and runs nothing for a check.
      ws.close(1000, 'token check');
      done();
    });
  });
}

function unreachable(why: string): TetherError {
  return new TetherError('unavailable', `The new token could not be checked (${why}); the token in use was kept.`);
}
