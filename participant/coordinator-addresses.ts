/**
 * `--coordinator HOST:PORT[,HOST:PORT…]`: the coordinator a participant asks about in-doubt
 * transactions, or several replicas of it sharing one decision log (docs/redis.md), tried in turn.
 * Kept apart from decision-source.ts so that parsing flags never loads gRPC.
 */

/** 16 replicas at most: one question may try each of them in turn. */
export const coordinatorAddressesMax = 16;

/** `HOST:PORT[,HOST:PORT…]` -> the addresses, in order, without empty entries or duplicates. */
export function splitCoordinatorAddresses(list: string): string[] {
  return [
    ...new Set(
      list
        .split(',')
        .map((a) => a.trim())
        .filter((a) => a !== ''),
    ),
  ];
}
