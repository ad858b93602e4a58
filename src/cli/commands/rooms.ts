import type { Static } from '@sinclair/typebox';
import type { RoomView } from '../../http/schemas.js';
import { defineCommand } from '../command.js';
import { keyValues, shortIds, table } from '../format.js';

type Room = Static<typeof RoomView>;
type Conference = Room['nodes'][number];

/** `nodeShort:members(+links)`: the node's conference as its agent counts it (members include the links). */
function conference(c: Conference, short: (id: string) => string): string {
  return `${short(c.nodeId)}:${c.members}${c.links > 0 ? `(+${c.links})` : ''}`;
}

function pinState(pin: NonNullable<Room['pin']>): string {
  return `${pin.by}, ${pin.confirmedAt !== null ? 'confirmed' : 'waiting'}`;
}

export function printRooms(body: { rooms: Room[] }): string[] {
  if (body.rooms.length === 0) return ['no active rooms'];
  const short = shortIds(body.rooms.flatMap((r) => [...(r.pin?.nodeId ? [r.pin.nodeId] : []), ...r.nodes.map((n) => n.nodeId)]));
  return table(
    ['ROOM', 'NODE', 'MEMBERS', 'CONFERENCES', 'PIN', 'SPLITS'],
    body.rooms.map((r) => [
      r.room,
      r.pin ? `${r.pin.nodeId !== null ? short(r.pin.nodeId) : '-'} ${r.pin.uri}` : '-',
      String(r.members),
      r.nodes.length > 0 ? r.nodes.map((c) => conference(c, short)).join(', ') : '-',
      r.pin ? pinState(r.pin) : '-',
      String(r.splitsRepaired),
    ]),
  );
}

export function printRoom(r: Room): string[] {
  const pin: [string, string][] = r.pin
    ? [
        ['pin', r.pin.uri],
        ['pin node', r.pin.nodeId ?? 'none live at that URI'],
        ['pin by', r.pin.by],
        ['pin at', r.pin.at],
        ['pin confirmed', r.pin.confirmedAt ?? 'waiting'],
      ]
    : [['pin', 'none']];
  const head = keyValues([['room', r.room], ...pin, ['members', String(r.members)], ['splits repaired', String(r.splitsRepaired)]]);
  if (r.nodes.length === 0) return [...head, '', 'conferences: none'];
  return [
    ...head,
    '',
    'conferences:',
    ...table(
      ['NODE', 'CONFERENCE', 'MEMBERS', 'LINKS', 'UPDATED'],
      r.nodes.map((c) => [c.nodeId, c.conferenceUuid, String(c.members), String(c.links), c.updatedAt]),
    ),
  ];
}

export const rooms = defineCommand<{ rooms: Room[] }>({
  name: 'rooms',
  args: [],
  summary: 'active rooms: pin and the node behind it, members, each node\'s conference, splits repaired',
  request: () => ({ method: 'GET', path: '/v1/rooms' }),
  print: printRooms,
});

export const room = defineCommand<Room>({
  name: 'room',
  args: ['room'],
  summary: 'one active room by its key (3000, or tenant-a.example/3000 with SBC_ROOM_SCOPE=domain)',
  // Domain-scoped keys hold a '/', which must reach the API as one path segment.
  request: ({ args }) => ({ method: 'GET', path: `/v1/rooms/${encodeURIComponent(args.room ?? '')}` }),
  print: printRoom,
});
