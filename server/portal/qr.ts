/** The enrollment QR code, rendered on the server as inline SVG: no script, no external asset. */
import QRCode from 'qrcode';

/**
 * An `<svg>` element for `text` with an accessible name. qrcode's SVG uses only presentation
 * attributes (fill, stroke), which the portal's CSP (no inline style) allows.
 */
export async function qrSvg(text: string, label: string): Promise<string> {
  const svg = await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 });
  const safeLabel = label.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return svg
    .trim()
    .replace(/^<svg /, `<svg class="qr" role="img" aria-label="${safeLabel}" focusable="false" `);
}
