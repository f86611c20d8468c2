/**
 * Browser-facing protection headers. Every answer says: do not guess content types, do
 * not frame me, send no Referer (signed media URLs carry their signature in the query).
 * The demo page adds a Content-Security-Policy that allows only its own bundle.
 */

/** Sent with every HTTP answer. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

/**
 * The demo page's policy: scripts, styles and connections from this site only (the
 * bundle has everything, nothing comes from a CDN); media and posters from this site, its
 * PUBLIC_URL, blob: (hls.js feeds the player through Media Source) and https: (videos
 * published with a `mediaUrl` hosted elsewhere); never framed.
 */
export function pageCsp(publicUrl?: string): string {
  const own = publicUrl ? new URL(publicUrl).origin : undefined;
  const site = own ? `'self' ${own}` : "'self'";
  // 'self' covers ws:/wss: to this host in current browsers; older Safari needs them spelled out
  const sockets = own ? ` ${own.replace(/^http/, 'ws')}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${site} data: blob: https:`,
    `media-src ${site} blob: https:`,
    `connect-src ${site}${sockets}`,
    "worker-src 'self' blob:",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}
