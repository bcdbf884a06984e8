import { timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  OAUTH_CONSENT_TTL_SECONDS,
  TetherError,
  normalizeShortCode,
  oauthAuthorizationSchema,
  oauthConsentSchema,
  type AppFrame,
  type Category,
  type OAuthAuthorization,
  type OAuthConsent,
  type RelayFrame,
} from '@tether/shared';

/** Requests shown at once; a relay sending more cannot flood the person's screen. */
export const MAX_OPEN_OAUTH_REQUESTS = 10;

/** The OAuth frames the relay client passes on. */
type OAuthRelayFrame = Extract<RelayFrame, { type: 'oauth_consent' | 'oauth_consent_closed' | 'oauth_authorizations' }>;

/** What OAuthConsents needs of the relay connection. */
export interface OAuthRelayLink {
  on(event: 'oauth', listener: (frame: OAuthRelayFrame) => void): unknown;
  off(event: 'oauth', listener: (frame: OAuthRelayFrame) => void): unknown;
  sendOAuth(frame: Extract<AppFrame, { type: 'oauth_answer' | 'oauth_revoke' }>): boolean;
  /** The runtime ids of this device's workspaces, as the relay assigned them. */
  readonly runtimes: ReadonlyArray<{ workspaceId: string; runtimeId: string }>;
}

/** The person's answer, as the DesktopApi's `oauth:answer` carries it. */
export type OAuthAnswer =
  | {
      requestId: string;
      approve: true;
      shortCode: string;
      workspaceIds: string[];
      categories: Category[];
      ttlSeconds: number;
    }
  | { requestId: string; approve: false };

/** Events of OAuthConsents. */
export interface OAuthConsentsEvents {
  /** A new request to show (the consent dialog opens, the terminal asks). */
  request: [OAuthConsent];
  /** Pending requests or approved clients changed. */
  changed: [];
}

function sameCode(typed: string, expected: string): boolean {
  const a = Buffer.from(normalizeShortCode(typed));
  const b = Buffer.from(normalizeShortCode(expected));
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * MCP clients asking for access through the relay (OAuth), and the org's approved clients. The
 * relay is not trusted here either: a request is approved only with the short code the person
 * read off the client's authorize page, only for workspaces of this device that the person chose
 * (for a request naming one runtime, only that runtime's workspace), and the answer says exactly
 * that, so the relay has nothing wider to mint from.
 */
export class OAuthConsents extends EventEmitter<OAuthConsentsEvents> {
  private readonly open = new Map<string, { consent: OAuthConsent; timer: NodeJS.Timeout }>();
  private approved: OAuthAuthorization[] = [];
  private readonly onFrame = (frame: OAuthRelayFrame): void => this.handle(frame);

  constructor(
    private readonly relay: OAuthRelayLink,
    private readonly hasWorkspace: (id: string) => boolean,
    private readonly now: () => number = Date.now,
  ) {
    super();
    relay.on('oauth', this.onFrame);
  }

  /** Requests waiting for the person, oldest first. */
  pending(): OAuthConsent[] {
    return [...this.open.values()].map((o) => o.consent);
  }

  /** The org's approved clients, as the relay last listed them. */
  clients(): OAuthAuthorization[] {
    return this.approved;
  }

  /** Answers a request. Throws TetherError (`not_found`, `short_code_mismatch`, `invalid_args`, `unavailable`). */
  answer(answer: OAuthAnswer): { sent: boolean } {
    const entry = this.open.get(answer.requestId);
    if (!entry || entry.consent.expiresAt <= this.now())
      throw new TetherError('not_found', 'That request is no longer waiting for an answer.');
    const consent = entry.consent;
    if (!answer.approve)
      return this.finish(consent.requestId, { type: 'oauth_answer', requestId: consent.requestId, approve: false });
    if (!sameCode(answer.shortCode, consent.shortCode))
      throw new TetherError(
        'short_code_mismatch',
        'That is not the code the client’s page shows. Check the page and type its code.',
      );
    const workspaceIds = [...new Set(answer.workspaceIds)];
    for (const id of workspaceIds) {
      if (!this.hasWorkspace(id)) throw new TetherError('invalid_args', `There is no workspace ${id}.`);
      if (!this.relay.runtimes.some((b) => b.workspaceId === id))
        throw new TetherError('invalid_args', 'A chosen workspace is not connected to the relay yet.');
    }
    if (consent.runtimeId !== null) {
      const binding = this.relay.runtimes.find((b) => b.runtimeId === consent.runtimeId);
      if (!binding)
        throw new TetherError('invalid_args', 'The client asked for a runtime of another device; approve it there.');
      if (workspaceIds.length !== 1 || workspaceIds[0] !== binding.workspaceId)
        throw new TetherError(
          'invalid_args',
          'The client asked for one workspace’s MCP URL: only that workspace can be given.',
        );
    }
    return this.finish(consent.requestId, {
      type: 'oauth_answer',
      requestId: consent.requestId,
      approve: true,
      shortCode: normalizeShortCode(consent.shortCode),
      workspaceIds,
      categories: [...new Set(answer.categories)],
      ttlSeconds: answer.ttlSeconds,
    });
  }

  /** Revokes an approved client (one the relay listed). */
  revoke(authorizationId: string): { sent: boolean } {
    if (!this.approved.some((a) => a.id === authorizationId))
      throw new TetherError('not_found', 'There is no such approved client.');
    const sent = this.relay.sendOAuth({ type: 'oauth_revoke', authorizationId });
    if (!sent) throw new TetherError('unavailable', 'Not connected to the relay: revoke it once connected.');
    return { sent };
  }

  dispose(): void {
    this.relay.off('oauth', this.onFrame);
    for (const o of this.open.values()) clearTimeout(o.timer);
    this.open.clear();
    this.removeAllListeners();
  }

  private finish(requestId: string, frame: Extract<AppFrame, { type: 'oauth_answer' }>): { sent: boolean } {
    if (!this.relay.sendOAuth(frame))
      throw new TetherError('unavailable', 'Not connected to the relay: try again once connected.');
    this.drop(requestId);
    return { sent: true };
  }

  private drop(requestId: string): void {
    const entry = this.open.get(requestId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.open.delete(requestId);
    this.emit('changed');
  }

  private handle(frame: OAuthRelayFrame): void {
    if (frame.type === 'oauth_consent_closed') return this.drop(frame.requestId);
    if (frame.type === 'oauth_authorizations') {
      this.approved = frame.authorizations.map((a) => oauthAuthorizationSchema.parse(a));
      this.emit('changed');
      return;
    }
    const consent = oauthConsentSchema.parse(frame.consent);
    // A relay cannot keep a request on screen beyond the consent window, nor repeat one.
    const left = Math.min(consent.expiresAt - this.now(), OAUTH_CONSENT_TTL_SECONDS * 1000);
    if (left <= 0 || this.open.has(consent.requestId) || this.open.size >= MAX_OPEN_OAUTH_REQUESTS) return;
    const timer = setTimeout(() => this.drop(consent.requestId), left);
    timer.unref();
    this.open.set(consent.requestId, { consent, timer });
    this.emit('request', consent);
    this.emit('changed');
  }
}
