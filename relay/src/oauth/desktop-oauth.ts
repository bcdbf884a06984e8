import type { FastifyBaseLogger } from 'fastify';
import type { OAuthAuthorization, RelayFrame } from '@tether/shared';
import type { DesktopOAuth, DesktopSession } from '../desktop/desktop-session.js';
import { consentOf, type OAuthService } from './oauth-service.js';

/**
 * Consent on the desktop: a welcomed desktop is shown its org's pending requests and approved
 * clients; its answers approve only workspaces this very connection announced (the relay never
 * widens them), and it may revoke any approved client of its org.
 */
export function createDesktopOAuth(
  oauth: OAuthService,
  logger: FastifyBaseLogger,
): DesktopOAuth & { list(orgId: string): Promise<OAuthAuthorization[]> } {
  return {
    async greet(orgId) {
      const frames: RelayFrame[] = (await oauth.pending(orgId)).map((r) => ({
        type: 'oauth_consent',
        consent: consentOf(r),
      }));
      frames.push({ type: 'oauth_authorizations', authorizations: await oauth.list(orgId) });
      return frames;
    },
    async answer(session: DesktopSession, frame) {
      const device = session.device!;
      if (!frame.approve) {
        await oauth.deny(session.orgId, frame.requestId);
        return;
      }
      const result = await oauth.approve(
        {
          kind: 'device',
          orgId: session.orgId,
          deviceId: device.deviceId,
          runtimeIdOf: (workspaceId) => session.runtimeIdOf(workspaceId),
        },
        frame.requestId,
        {
          shortCode: frame.shortCode,
          workspaceIds: frame.workspaceIds,
          categories: frame.categories,
          ttlSeconds: frame.ttlSeconds,
        },
      );
      if (!result.ok)
        logger.warn(
          { session: session.id, request: frame.requestId, code: result.error.code },
          'a desktop approval of an MCP client was refused',
        );
    },
    async revoke(session, authorizationId) {
      await oauth.revokeAuthorization(session.orgId, authorizationId);
    },
    list: (orgId) => oauth.list(orgId),
  };
}
