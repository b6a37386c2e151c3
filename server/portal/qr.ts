/** The enrollment QR code, rendered on the server as inline SVG: no script, no external asset. */

/**
 * An `<svg>` element for `text` with an accessible name. qrcode's SVG uses only presentation
 * attributes (fill, stroke), which the portal's CSP (no inline style) allows.
 */
export async function qrSvg(text: string, label: string): Promise<string> {
  // Loaded at the first enrollment, not at start: a restart under a reconnect storm comes back
  // sooner without it (~20 ms of module loading on an idle machine, more under load).
  const { default: QRCode } = await import('qrcode');
  const svg = await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 });
  const safeLabel = label.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return svg
    .trim()
    .replace(/^<svg /, `<svg class="qr" role="img" aria-label="${safeLabel}" focusable="false" `);
}
