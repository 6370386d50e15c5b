// The official Directus SDK against hookd. Run by sdk_test.go with
// HOOKD_URL, HOOKD_EMAIL and HOOKD_PASSWORD; prints one line per check and
// exits non-zero on the first failure.
process.on('unhandledRejection', (err) => {
  console.error(err);
  process.exit(1);
});

import {
  authentication, createDirectus, createItem, createItems, deleteItem, readItem, readItems, readMe, readUsers,
  realtime, rest, updateItem,
} from '@directus/sdk';

const base = process.env.HOOKD_URL;
const email = process.env.HOOKD_EMAIL;
const password = process.env.HOOKD_PASSWORD;

let passed = 0;
function check(cond, what, got) {
  if (!cond) {
    throw new Error(`FAILED: ${what}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`);
  }
  passed++;
  console.log(`ok - ${what}`);
}

// Waits for the next value of an async iterator, failing after ms.
async function next(it, what, ms = 10000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`FAILED: timed out waiting for ${what}`)), ms);
  });
  try {
    const r = await Promise.race([it.next(), timeout]);
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

const client = createDirectus(base)
  .with(authentication('json'))
  .with(rest())
  .with(realtime({ authMode: 'handshake', reconnect: false }));

// Login in json mode.
const login = await client.login({ email, password }, { mode: 'json' });
check(typeof login.access_token === 'string' && typeof login.refresh_token === 'string' && login.expires > 0,
  'login (json mode) returns access_token, refresh_token, expires', login);

// REST CRUD.
const created = await client.request(createItem('articles', { title: 'from sdk', status: 'published' }));
check(created.title === 'from sdk' && created.id !== undefined, 'createItem returns the item', created);
const many = await client.request(createItems('articles', [{ title: 'a' }, { title: 'b' }]));
check(Array.isArray(many) && many.length === 2, 'createItems returns the items', many);
const one = await client.request(readItem('articles', created.id, { fields: ['id', 'title'] }));
check(one.id === created.id && one.title === 'from sdk' && one.status === undefined, 'readItem with fields', one);
const list = await client.request(readItems('articles', {
  fields: ['id', 'title'], filter: { status: { _eq: 'published' } }, sort: ['-id'], limit: 10,
}));
check(list.length === 1 && list[0].id === created.id, 'readItems with fields, filter, sort, limit', list);
const updated = await client.request(updateItem('articles', created.id, { title: 'edited' }));
check(updated.title === 'edited', 'updateItem returns the item', updated);
await client.request(deleteItem('articles', many[0].id));
try {
  await client.request(readItem('articles', many[0].id));
  check(false, 'readItem of a deleted item fails');
} catch (err) {
  const code = err?.errors?.[0]?.extensions?.code;
  check(code === 'FORBIDDEN', 'readItem of a deleted item fails with FORBIDDEN', err?.errors ?? String(err));
}

// System collections take the same query language.
const me = await client.request(readMe({ fields: ['id', 'email'] }));
check(me.email === email && typeof me.id === 'string' && Object.keys(me).length === 2, 'readMe with fields', me);
const users = await client.request(readUsers({
  fields: ['id', 'email'], filter: { email: { _eq: email } }, sort: ['-email'], limit: 5,
}));
check(users.length === 1 && users[0].id === me.id, 'readUsers with fields, filter, sort, limit', users);
const nobody = await client.request(readUsers({ filter: { email: { _eq: 'nobody@example.com' } } }));
check(Array.isArray(nobody) && nobody.length === 0, 'readUsers with a filter that matches no one', nobody);

// Realtime: subscribe, events, unsubscribe.
await client.connect();
check(true, 'realtime connect (handshake auth)');
const { subscription, unsubscribe } = await client.subscribe('articles', {
  query: { fields: ['id', 'title'], filter: { status: { _eq: 'published' } } },
});
const it = subscription[Symbol.asyncIterator]();
const init = await next(it, 'init');
check(init.event === 'init' && Array.isArray(init.data) && init.data.length === 1 && init.data[0].title === 'edited',
  'subscribe: init with the filtered data', init);

// The SDK's subscription generator listens only while a next() is pending
// (a frame that arrives between two next() calls is lost, in Directus too),
// so each wait starts before the write that causes the event.
let waiting = next(it, 'create event');
const live = await client.request(createItem('articles', { title: 'live', status: 'published' }));
let ev = await waiting;
check(ev.event === 'create' && ev.data[0].id === live.id && ev.data[0].title === 'live' && ev.data[0].status === undefined,
  'create event with the subscribed fields', ev);
waiting = next(it, 'update event');
await client.request(createItem('articles', { title: 'draft, filtered out' }));
await client.request(updateItem('articles', live.id, { title: 'live, edited' }));
ev = await waiting;
check(ev.event === 'update' && ev.data[0].title === 'live, edited', 'update event (the draft was filtered out)', ev);
waiting = next(it, 'delete event');
await client.request(deleteItem('articles', live.id));
ev = await waiting;
check(ev.event === 'delete' && ev.data.length === 1 && String(ev.data[0]) === String(live.id), 'delete event with the key', ev);

const confirmed = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('FAILED: no unsubscribe confirmation')), 10000);
  const off = client.onWebSocket('message', (m) => {
    if (m.type === 'subscription' && m.event === 'unsubscribe') {
      clearTimeout(timer);
      off();
      resolve(m);
    }
  });
});
unsubscribe();
const done = await next(it, 'end of the subscription');
check(done === undefined, 'the subscription ends after unsubscribe', done);
ev = await confirmed;
check(ev.uid !== undefined, 'unsubscribe is confirmed with the subscription uid', ev);
await client.request(createItem('articles', { title: 'after unsubscribe', status: 'published' }));

// Items over the socket.
function socketRequest(message) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`FAILED: no answer to ${message.uid}`)), 10000);
    const off = client.onWebSocket('message', (m) => {
      if (m.type === 'items' && m.uid === message.uid) {
        clearTimeout(timer);
        off();
        resolve(m);
      }
    });
    client.sendMessage(message);
  });
}
let r = await socketRequest({ type: 'items', collection: 'articles', action: 'create', data: { title: 'via socket' }, uid: 'i1' });
check(r.data?.title === 'via socket', 'items create over the socket', r);
const socketID = r.data.id;
r = await socketRequest({ type: 'items', collection: 'articles', action: 'read', query: { fields: ['title'], filter: { id: { _eq: socketID } } }, uid: 'i2' });
check(Array.isArray(r.data) && r.data.length === 1 && r.data[0].title === 'via socket', 'items read over the socket', r);
r = await socketRequest({ type: 'items', collection: 'articles', action: 'update', id: socketID, data: { title: 'socket edit' }, uid: 'i3' });
check(r.data?.title === 'socket edit', 'items update over the socket', r);
r = await socketRequest({ type: 'items', collection: 'articles', action: 'delete', id: socketID, uid: 'i4' });
check(String(r.data) === String(socketID), 'items delete over the socket', r);
r = await socketRequest({ type: 'items', collection: 'directus_users', action: 'read', uid: 'i5' });
check(r.status === 'error' && r.error.code === 'INVALID_COLLECTION', 'items on a system collection is refused', r);

client.disconnect();
console.log(`${passed} passed, 0 failed`);
// The SDK's token auto-refresh timer would keep the process alive.
process.exit(0);
