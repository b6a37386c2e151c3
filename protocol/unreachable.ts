/**
 * What to do next when the server cannot be reached, from the socket error's code: one wording
 * for idvctl and idv-agent (register, doctor, sync) alike.
 */
export function unreachableReason(url: URL, code: string): string {
  if (code === 'ECONNREFUSED')
    return `nothing listens at ${url.host}: is idv-server running there (systemctl status idv-server), and is this its port?`;
  if (url.protocol === 'https:' && (code === 'EPROTO' || /WRONG_VERSION_NUMBER/.test(code)))
    return `${url.host} does not answer TLS: if the server runs plain HTTP, use http://${url.host}`;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code))
    return `TLS certificate not trusted (${code}); pass --ca with the server's CA`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `no host ${url.hostname} (${code}): check the name in the server URL`;
  if (code === 'ETIMEDOUT' || code === 'ECONNRESET' || code === 'EHOSTUNREACH')
    return `${code}: check the address, and that a firewall lets this machine reach ${url.host}`;
  return 'check the server URL, and that idv-server runs there';
}
