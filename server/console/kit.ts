/**
 * What a console page and action get: the signed-in admin, the clock, and `api`, which calls the
 * admin API's own route in-process as that admin (server/http/actor.ts) — the same handler,
 * validation, role check and audit entry as the matching idvctl command.
 */
import type { Html } from '../portal/html.js';
import type { Viewer } from './layout.js';

export type Json = Record<string, unknown>;

export type Api = (
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  body?: unknown,
) => Promise<Json>;

/** An API refusal, shown on the page with the API's status and message. */
export class ApiRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface PageCtx {
  viewer: Viewer;
  now: number;
  api: Api;
  query: URLSearchParams;
  /** This server's address for machines and people: --public-url, else the one this browser used. */
  serverUrl: string;
}

/** The command that registers a machine with this server (the token in a root-only file). */
export function registerCommand(serverUrl: string): string {
  return `idv-agent register --server ${serverUrl} --token-file FILE`;
}

export interface Rendered {
  title: string;
  body: Html;
  live?: boolean;
}

export type PageRenderer = (c: PageCtx) => Promise<Rendered>;

export type ActionResult =
  /** Done: back to a page (Post/Redirect/Get) with a confirmation. */
  | { redirect: string; notice: string }
  /**
   * Done, with something shown once (a link, codes, a token): rendered now, never stored. Or
   * refused, with the form shown again as it was sent (`status` 400, `alert` saying why).
   */
  | {
      page: Rendered;
      status?: number;
      alert?: { kind: 'error' | 'success'; text: string };
      /** The NAV path to mark current (a form shown again on its own page). */
      current?: string;
    };

export interface Action {
  /** Fastify route under /admin, e.g. `/admin/users/:name/unlock`. */
  route: string;
  /** The page to show an error on (path and query). */
  back(params: Record<string, string>, form: Record<string, string>): string;
  run(
    params: Record<string, string>,
    form: Record<string, string>,
    c: PageCtx,
  ): Promise<ActionResult>;
}

export const enc = encodeURIComponent;

/** Splits a comma- or space-separated list typed into a field. */
export function listField(text: string | undefined): string[] {
  return (text ?? '')
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
