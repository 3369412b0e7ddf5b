// The console's one script: live updates over the console's event stream (/console/events).
// Everything it puts into the page is text (textContent), never HTML built from data.
(() => {
  if (document.body.dataset.live !== 'on') return;
  const state = document.querySelector('[data-live-state]');
  const say = (text) => {
    if (state) state.textContent = text;
  };

  const setStatus = (orderId, status) => {
    for (const el of document.querySelectorAll('[data-order-status]')) {
      if (el.dataset.orderStatus === orderId) el.textContent = status;
    }
  };

  // The counts per status at the top of the orders list follow each move (a reload reads them afresh).
  const bump = (status, by) => {
    for (const el of document.querySelectorAll('[data-count]')) {
      if (el.dataset.count === status) el.textContent = String(Math.max(0, Number(el.textContent) + by));
    }
  };

  // Orders this page does not list yet: counted in a notice with a link that reloads the page.
  const arrivals = document.querySelector('[data-arrivals]');
  let arrivedCount = 0;
  const arrived = (change) => {
    if (!arrivals) return;
    const counts = arrivals.dataset.arrivals === 'new' ? change.from === null : change.to === 'review';
    if (!counts) return;
    arrivedCount += 1;
    const orders = arrivedCount === 1 ? 'order' : 'orders';
    const what = arrivals.dataset.arrivals === 'new' ? `new ${orders}` : `${orders} entered review`;
    arrivals.querySelector('[data-arrivals-text]').textContent =
      `${arrivedCount} ${what} since this page was opened.`;
    arrivals.hidden = false;
  };

  const utc = (iso) => `${new Date(iso).toISOString().slice(0, 19).replace('T', ' ')} UTC`;

  // The open order's timeline is read again from the console (JSON) and rebuilt from text cells.
  const timeline = document.querySelector('[data-timeline]');
  let refreshing = false;
  let again = false;
  const refreshOrder = async () => {
    if (!timeline) return;
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      const res = await fetch(`/console/orders/${encodeURIComponent(timeline.dataset.timeline)}/live`, {
        credentials: 'same-origin',
      });
      if (!res.ok) return;
      const order = await res.json();
      setStatus(order.id, order.status);
      const rows = order.events.map((e) => {
        const tr = document.createElement('tr');
        for (const text of [utc(e.at), e.from ?? '—', e.to, e.reason ?? '', e.by ?? '']) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        return tr;
      });
      timeline.replaceChildren(...rows);
    } finally {
      refreshing = false;
      if (again) {
        again = false;
        refreshOrder();
      }
    }
  };

  const source = new EventSource('/console/events');
  // On (re)connecting, catch up on what changed while nobody listened: the open order, a notice's order.
  const catchUp = async () => {
    refreshOrder();
    for (const el of document.querySelectorAll('.notice [data-order-status]')) {
      const res = await fetch(`/console/orders/${encodeURIComponent(el.dataset.orderStatus)}/live`, {
        credentials: 'same-origin',
      });
      if (res.ok) setStatus(el.dataset.orderStatus, (await res.json()).status);
    }
  };
  source.addEventListener('ready', () => {
    say('Live updates: on');
    catchUp();
  });
  source.addEventListener('error', () => say('Live updates: reconnecting'));
  source.addEventListener('change', (event) => {
    let change;
    try {
      change = JSON.parse(event.data);
    } catch {
      return;
    }
    if (typeof change.orderId !== 'string' || typeof change.to !== 'string') return;
    setStatus(change.orderId, change.to);
    arrived(change);
    bump(change.from, -1);
    bump(change.to, 1);
    if (timeline && timeline.dataset.timeline === change.orderId) refreshOrder();
  });
})();
