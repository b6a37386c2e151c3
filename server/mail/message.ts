/**
 * The enrollment mail: plain text and the same words as simple HTML. Honest and quiet: who sent
 * it and why, the link once, when it stops working, what to do if unexpected; no images, no
 * tracking pixels, no redirects, no remote styles.
 */
import type { MailKind } from '../store/integrations.js';

export interface EnrollmentMessage {
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function enrollmentMessage(input: {
  user: string;
  kind: MailKind;
  link: string;
  expiresAt: number;
  issuer: string;
}): EnrollmentMessage {
  const until = new Date(input.expiresAt).toUTCString();
  const why =
    input.kind === 'reset'
      ? `Your administrator reset your second factor for ${input.issuer}: the authenticator you had no longer works. Please set up a new one.`
      : `Your administrator asked you to set up a second factor for logging in to ${input.issuer}: a six-digit code from an authenticator app on your phone.`;
  const paragraphs = [
    `Hello ${input.user},`,
    why,
    `Open this link to set it up. It works once, until ${until}:`,
    input.link,
    'The page shows a QR code to scan with your authenticator app, then asks for one code from it.',
    'If you did not expect this mail, do not open the link and tell your administrator.',
    `This mail was sent by the idv server of ${input.issuer}. It contains no images and no tracking.`,
  ];
  const text = `${paragraphs.join('\n\n')}\n`;
  const html = [
    '<!doctype html><html><body>',
    ...paragraphs.map((p) =>
      p === input.link
        ? `<p><a href="${escapeHtml(p)}">${escapeHtml(p)}</a></p>`
        : `<p>${escapeHtml(p)}</p>`,
    ),
    '</body></html>',
  ].join('\n');
  const subject =
    input.kind === 'reset'
      ? `Set up your new second factor for ${input.issuer}`
      : `Set up your second factor for ${input.issuer}`;
  return { subject, text, html };
}
