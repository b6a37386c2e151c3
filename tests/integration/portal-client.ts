/** A minimal portal client for tests: a cookie jar, forms, and readers for what pages show. */
import { generateCode } from '../../protocol/totp.js';

/** A tiny browser: one cookie jar, no redirects followed automatically. */
export class Client {
  private cookie = '';
  constructor(
    private readonly base: string,
    private readonly onSession: (id: string) => void = () => undefined,
  ) {}

  async get(path: string): Promise<Response> {
    const res = await fetch(new URL(path, this.base), {
      redirect: 'manual',
      headers: this.cookie ? { cookie: this.cookie } : {},
    });
    this.keep(res);
    return res;
  }

  async post(path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
    const res = await fetch(new URL(path, this.base), {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: new URL(this.base).origin,
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...headers,
      },
      body: new URLSearchParams(form).toString(),
    });
    this.keep(res);
    return res;
  }

  /**
   * Opens an enrollment link as a person does: the GET shows the "Start setup" page, the
   * button's POST spends the link. Returns the POST's answer (303 to /portal/enroll).
   */
  async openLink(link: string): Promise<Response> {
    const shown = await this.get(link);
    if (shown.status !== 200) return shown;
    const html = await shown.text();
    if (!html.includes('Start setup')) throw new Error('no Start setup button on the link page');
    return this.post(link, { start: '1' });
  }

  private keep(res: Response): void {
    const set = res.headers.get('set-cookie');
    if (set) {
      this.cookie = set.split(';')[0] as string;
      const value = this.cookie.split('=')[1];
      if (value) this.onSession(value);
    }
  }
}

export function csrfOf(html: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no csrf field');
  return m[1] as string;
}

export function secretOf(html: string): string {
  const m = /id="secret"[^>]*>([A-Z2-7 ]+)</.exec(html);
  if (!m) throw new Error('no secret on the page');
  return (m[1] as string).replace(/ /g, '');
}

export function codesOf(html: string): string[] {
  return [...html.matchAll(/<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})<\/code><\/li>/g)].map(
    (m) => m[1] as string,
  );
}

export function totp(secret: string, at = Date.now()): string {
  return generateCode({ secret, algorithm: 'SHA1', digits: 6, period: 30 }, at);
}
