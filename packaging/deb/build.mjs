export function buildDebs() {
  return [];
}
