/*
 * shoptrack browser tracker: the eS() API of the hosted platform's web tracking
 * (shared/spec/web-tracking-js-events.md), delivering to a shoptrack collector.
 *
 * The server serves this file minified per site (GET /scripts/{site}.js) with the two
 * placeholders below replaced by the site id and the collector's event URL. The shop's
 * loader snippet queues calls in eS.q (as arguments objects) until this file has run;
 * they are replayed in order and window.eS becomes the real function.
 *
 * Commands:
 *   eS('init', {TRACKING, RECOMS, debug, storage, spa, retryBase, retryMax, maxQueue})
 *   eS('sendEvent', NAME, PAYLOAD?)  eS('sendEventWithTags', NAME, PAYLOAD?)
 *   eS('consent', true)   grant storage (after init {storage: false})
 *   eS('consent', false)  opt out: stop sending, clear what was stored
 *   eS('getRecommendations', OPTIONS, CALLBACK)  recommendations, from the second script
 *
 * Recommendations live in a second script (eS.recs.js, served beside this one as
 * {site}.recs.js), loaded on first need: the first getRecommendations call, or, with RECOMS
 * on, the first event that tells the page type (MainPage, CategoryPage, ProductPage,
 * StatusCart(Page), NotFound, PurchasedItems). It registers through eS.core.r.
 *
 * Storage (only while storage is allowed): cookie sc (visitor id, 1 year, SameSite=Lax,
 * copied to localStorage in case cookies are refused or cleared), localStorage sc_s
 * (session: id and last activity), sc_q (unacknowledged events), sc_i (remembered
 * GeneralInfo identity), sc_l (sc_content attribution). Cookie sc_out remembers an
 * opt-out: it is the one thing kept when the visitor says no, so the no holds next time.
 *
 * Wire format: src/shoptrack/collector/wire.py (POST /webevent, text/plain JSON).
 * No template literals: the Python minifier (rjsmin) works on regular expressions.
 */
(function (win, doc) {
  'use strict';
  var SITE = '%%SITE_ID%%';
  var ENDPOINT = '%%ENDPOINT%%';

  var loader = win.eS;
  // The snippet pasted twice, or this file loaded twice: the first copy stays in charge.
  if (loader && loader.shoptrack) return;

  var SESSION_MS = 30 * 60 * 1000;
  var YEAR_DAYS = 365;
  var KEYS = ['sc', 'sc_s', 'sc_q', 'sc_i', 'sc_l'];
  // user_hash: the shop server's signature of the identity (README "Signed identities").
  var IDENTITY = ['externalCustomerId', 'user_email', 'user_phone', 'user_es_contact_id', 'user_name', 'user_hash'];
  // Events that a recommendation click leads to: they carry the remembered sc_content.
  var ATTRIBUTED = /^(productpage|addtowishlist|statuscart|statuscartpage|purchaseditems)$/;
  var PAGES = /^(mainpage|categorypage|productpage|statuscart|statuscartpage|notfound|purchaseditems)$/;
  var KNOWN = /^(pageview|productpage|statuscart|statuscartpage|purchaseditems|customerdata|categorypage|addtowishlist|searchrequest|mainpage|notfound|productimpressions?)$/;

  var cfg = {
    TRACKING: true, RECOMS: true, debug: false, storage: true, spa: false,
    retryBase: 1000, retryMax: 60000, maxQueue: 500, maxBatch: 50
  };
  var mode = 'on'; // 'on': storage allowed, 'mem': memory only, 'off': opted out
  var visitor = '';
  var session = null; // {i: id, t: last activity}
  var identity = {};
  var loc = null; // {v: sc_content, s: session id it belongs to}
  var queue = []; // events not yet acknowledged, oldest first
  var dropped = 0; // events the full queue pushed out, reported with the next batch
  var done = {}; // ids acknowledged or given up in this page: never written back to storage
  var beaconed = {}; // ids handed to sendBeacon while the page was hidden
  var flying = null; // the batch of the request in flight
  var scheduled = false;
  var backoff = 0; // timer of the next retry
  var attempt = 0;
  var viewed = false;
  var productSent = false;
  var autoDone = false;
  var referrer = doc.referrer;
  var me = doc.currentScript; // for the address of the recommendations script
  var recs = null; // that script's API, once it has registered
  var recsWait = []; // what waits for it
  // No test write here: before consent nothing may be written. Writes catch their errors.
  var store = (function () {
    try {
      return win.localStorage;
    } catch (e) {
      return null; // disabled, or a sandboxed frame
    }
  })();

  function now() {
    return Date.now();
  }

  function log(level) {
    if (cfg.debug && win.console) {
      var args = [].slice.call(arguments, 1);
      args.unshift('[shoptrack]');
      console[level].apply(console, args);
    }
  }

  function rid() {
    var bytes = new Uint8Array(16);
    win.crypto.getRandomValues(bytes);
    return [].map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join('');
  }

  function cookie(name, value, days) {
    if (value === undefined) {
      var m = doc.cookie.match('(?:^|; )' + name + '=([^;]*)');
      return m ? decodeURIComponent(m[1]) : null;
    }
    doc.cookie = name + '=' + encodeURIComponent(value) + '; path=/; max-age=' +
      Math.round(days * 86400) + '; SameSite=Lax' + (location.protocol == 'https:' ? '; Secure' : '');
  }

  function load(key) {
    try {
      return JSON.parse(store.getItem(key));
    } catch (e) {
      return null;
    }
  }

  function save(key, value) {
    if (mode != 'on' || !store) return;
    try {
      store.setItem(key, JSON.stringify(value));
    } catch (e) {
      // Quota or privacy mode: the events still go out from memory.
    }
  }

  function isObject(v) {
    return v !== null && typeof v == 'object' && !Array.isArray(v);
  }

  function page() {
    return {
      url: location.href.slice(0, 2000),
      referrer: (referrer || '').slice(0, 2000) || undefined,
      title: (doc.title || '').slice(0, 500) || undefined
    };
  }

  // The session: a new one after 30 minutes without events, shared by the site's tabs.
  function sessionId() {
    var t = now();
    var s = (mode == 'on' && load('sc_s')) || session;
    if (!s || !s.i || t - s.t > SESSION_MS) s = {i: rid().slice(0, 16), t: t};
    s.t = t;
    session = s;
    save('sc_s', s);
    return s.i;
  }

  // Everything kept from earlier pages, once storage is allowed; memory state wins.
  function restore() {
    visitor = cookie('sc') || load('sc') || visitor || rid();
    cookie('sc', visitor, YEAR_DAYS);
    save('sc', visitor);
    var known = load('sc_i');
    identity = Object.assign(isObject(known) ? known : {}, identity);
    save('sc_i', identity);
    loc = loc || load('sc_l');
    save('sc_l', loc);
    var stored = load('sc_q') || {};
    var ids = {};
    queue.forEach(function (e) { ids[e.id] = 1; });
    queue = storedEvents(stored).filter(function (e) { return !ids[e.id]; }).concat(queue);
    dropped += +stored.d || 0;
    persist();
  }

  // Events another page or tab stored, as far as they are whole (storage is the page's too).
  function storedEvents(stored) {
    return (Array.isArray(stored.e) ? stored.e : []).filter(function (e) {
      return isObject(e) && e.id && e.name && isObject(e.page);
    });
  }

  // Write the queue; keep what other tabs stored that this one neither holds nor finished.
  function persist() {
    if (mode != 'on' || !store) return;
    var mine = {};
    queue.forEach(function (e) { mine[e.id] = 1; });
    var others = storedEvents(load('sc_q') || {}).filter(function (e) {
      return !mine[e.id] && !done[e.id];
    });
    save('sc_q', {e: others.concat(queue).slice(-cfg.maxQueue), d: dropped});
  }

  function remember(source) {
    if (!isObject(source)) return;
    // A new identity without its own signature must not travel with the old one's.
    if (source.user_hash == null) {
      IDENTITY.slice(0, 4).forEach(function (k) { // the identifiers a signature vouches for
        if (source[k] != null && source[k] !== '' && identity[k] !== source[k]) delete identity.user_hash;
      });
    }
    IDENTITY.forEach(function (k) {
      if (source[k] != null && source[k] !== '') identity[k] = source[k];
    });
    save('sc_i', identity);
  }

  function general() {
    var g = Object.assign({}, identity);
    // Web push stores its contact id here (spec: Local Storage > esWebPushContactId).
    var push = mode == 'on' && store && store.getItem('esWebPushContactId');
    if (push && !g.user_es_contact_id) g.user_es_contact_id = push.replace(/"/g, '');
    return Object.keys(g).length ? g : undefined;
  }

  function readLocation() {
    var m = /[?&]sc_content=([^&#]+)/.exec(location.search);
    if (m) {
      loc = {v: decodeURIComponent(m[1].replace(/\+/g, ' ')), s: sessionId()};
      save('sc_l', loc);
    }
  }

  function track(style, name, payload) {
    if (mode == 'off') return log('info', 'opted out, not sent:', name);
    if (typeof name != 'string' || !name) {
      return log('warn', style + ' needs an event name (a string) first, got', name);
    }
    if (payload != null && !isObject(payload)) {
      return log('warn', name + ': the payload must be an object, got', payload);
    }
    try {
      // A copy now: the page may change its objects after the call.
      payload = payload == null ? undefined : JSON.parse(JSON.stringify(payload));
    } catch (e) {
      return log('warn', name + ': the payload cannot be sent as JSON:', e.message);
    }
    var lower = name.toLowerCase();
    if (!KNOWN.test(lower)) log('warn', name + ' is not an event of the spec; the server will refuse it');
    if (payload) {
      remember(payload.GeneralInfo);
      remember(payload.CustomerData);
    }
    if (lower == 'productpage') productSent = true;
    if (cfg.RECOMS && PAGES.test(lower)) withRecs(function (r) { r.page(lower, payload); });
    var sid = sessionId();
    if (loc && loc.s == sid && ATTRIBUTED.test(lower)) {
      var g = payload && isObject(payload.GeneralInfo) ? payload.GeneralInfo : {};
      if (!g.s_location) {
        payload = Object.assign({}, payload, {GeneralInfo: Object.assign({s_location: loc.v}, g)});
      }
      if (lower == 'purchaseditems') { // the purchase closes the attribution
        loc = null;
        save('sc_l', null);
      }
    }
    var event = {id: rid(), style: style, name: name, payload: payload, time: now(), s: sid, page: page(), general: general()};
    log('info', 'queued', name, payload || '');
    queue.push(event);
    var over = queue.length - cfg.maxQueue;
    if (over > 0) {
      queue.splice(0, over).forEach(function (e) { done[e.id] = 1; });
      dropped += over;
      log('warn', over + ' oldest unsent event(s) dropped: the queue is full');
    }
    persist();
    schedule();
  }

  // Events raised in the same tick leave in one request: the flush waits for a microtask.
  function schedule() {
    if (scheduled || backoff) return;
    scheduled = true;
    Promise.resolve().then(flush);
  }

  function nextBatch() {
    var first = null;
    return queue.filter(function (e) {
      if (beaconed[e.id] || (first && e.s != first.s)) return false;
      first = first || e;
      return true;
    }).slice(0, cfg.maxBatch);
  }

  function body(batch, reportDropped) {
    var top = batch[0].page;
    return JSON.stringify({
      v: 1, site_id: SITE, visitor_id: visitor, session_id: batch[0].s, sent_at: now(),
      page: top, general: {}, dropped: reportDropped,
      events: batch.map(function (e) {
        return {
          id: e.id, style: e.style, name: e.name, payload: e.payload, time: e.time,
          page: e.page.url == top.url ? undefined : e.page, general: e.general
        };
      })
    });
  }

  function finish(batch) {
    var ids = {};
    batch.forEach(function (e) { ids[e.id] = done[e.id] = 1; });
    queue = queue.filter(function (e) { return !ids[e.id]; });
    persist();
  }

  function retryLater() {
    attempt++;
    var delay = Math.min(cfg.retryMax, cfg.retryBase * Math.pow(2, attempt - 1));
    delay = delay / 2 + Math.random() * delay / 2; // jitter: visitors do not return in step
    log('info', 'delivery failed, retry in ' + Math.round(delay) + ' ms');
    backoff = setTimeout(function () {
      backoff = 0;
      schedule();
    }, delay);
  }

  function flush() {
    scheduled = false;
    if (mode == 'off' || flying) return; // one request at a time keeps acknowledgements simple
    var batch = nextBatch();
    if (!batch.length) return;
    var reported = dropped;
    var text = body(batch, reported);
    flying = batch;
    // keepalive lets the request outlive the page; the browser caps such bodies at 64 KB in
    // all (20,000 UTF-16 units are at most 60 KB of UTF-8).
    fetch(ENDPOINT, {method: 'POST', body: text, keepalive: text.length < 20000, credentials: 'omit'})
      .then(function (r) {
        var status = r.status;
        if (r.ok || (status >= 400 && status < 500 && status != 429 && !(status == 413 && batch.length > 1))) {
          attempt = 0;
          dropped = Math.max(0, dropped - reported);
          finish(batch);
          if (!r.ok) log('warn', 'the server refused ' + batch.length + ' event(s), HTTP ' + status);
          if (cfg.debug) {
            r.json().then(function (answer) {
              (answer.rejected || []).forEach(function (x) {
                log('warn', 'refused: ' + (batch[x.index] || {}).name + ': ' + (x.error && x.error.message));
              });
            }, function () {});
          }
        } else if (status == 413) {
          cfg.maxBatch = Math.ceil(batch.length / 2); // too large together: send in halves
        } else {
          retryLater();
        }
      }, retryLater)
      .then(landed, landed); // whatever happened above, the next request may go
  }

  function landed() {
    flying = null;
    if (nextBatch().length) schedule();
  }

  // The page is going away or into the background: hand what is unsent to sendBeacon.
  // The events stay stored until a fetch is acknowledged (the server ignores repeated ids).
  function onHide() {
    if (mode == 'off' || !navigator.sendBeacon) return;
    // The request in flight has keepalive: it outlives the page by itself.
    (flying || []).forEach(function (e) { beaconed[e.id] = 1; });
    for (;;) {
      var batch = nextBatch();
      if (!batch.length || !navigator.sendBeacon(ENDPOINT, body(batch, 0))) return;
      batch.forEach(function (e) { beaconed[e.id] = 1; });
    }
  }

  function fromJsonLd() {
    var found = null;
    function walk(node, depth) {
      if (found || !node || typeof node != 'object' || depth > 8) return;
      if (Array.isArray(node)) return node.forEach(function (n) { walk(n, depth + 1); });
      if (/(^|[,\/])Product(,|$)/.test([].concat(node['@type']).join(','))) found = node;
      walk(node['@graph'], depth + 1);
      walk(node.mainEntity, depth + 1);
    }
    [].forEach.call(doc.querySelectorAll('script[type="application/ld+json"]'), function (s) {
      try {
        walk(JSON.parse(s.textContent), 0);
      } catch (e) {
        log('warn', 'unreadable JSON-LD ignored');
      }
    });
    if (!found) return null;
    var offer = [].concat(found.offers || {})[0] || {};
    var spec = [].concat(offer.priceSpecification || {})[0] || {};
    return {
      key: found.sku || found.productID || found.mpn,
      price: offer.price != null ? offer.price : offer.lowPrice != null ? offer.lowPrice : spec.price,
      currency: offer.priceCurrency || spec.priceCurrency,
      stock: offer.availability
    };
  }

  function fromMicrodata() {
    var root = doc.querySelector('[itemscope][itemtype*="schema.org/Product"]');
    if (!root) return null;
    function prop(name) {
      var el = root.querySelector('[itemprop~="' + name + '"]');
      return el ? (el.getAttribute('content') || el.getAttribute('href') || el.textContent).trim() : undefined;
    }
    return {key: prop('sku') || prop('productID') || prop('mpn'), price: prop('price'), currency: prop('priceCurrency'), stock: prop('availability')};
  }

  // TRACKING on: a product page recognised from its schema.org markup, unless the page
  // sends its own ProductPage (checked once the page has loaded, or when it is left).
  function autoProduct() {
    if (autoDone || !cfg.TRACKING || mode == 'off') return;
    autoDone = true;
    if (productSent) return;
    var p = fromJsonLd() || fromMicrodata();
    if (!p || p.key == null) return;
    var product = {productKey: String(p.key)};
    if (p.price != null && p.price !== '') product.price = String(p.price);
    if (p.currency) product.currency = p.currency;
    if (p.stock) product.isInStock = /InStock|LimitedAvailability|OnlineOnly|InStoreOnly/.test(p.stock) ? 1 : 0;
    track('sendEvent', 'ProductPage', {ProductPage: product});
  }

  function pageView() {
    viewed = true;
    track('sendEvent', 'PageView');
  }

  // Single-page apps: a PageView for every history navigation (init {spa: true}).
  function watchHistory() {
    var last = location.href;
    function check() {
      if (location.href == last) return;
      referrer = last;
      last = location.href;
      readLocation();
      pageView();
    }
    ['pushState', 'replaceState'].forEach(function (name) {
      var original = history[name];
      history[name] = function () {
        var result = original.apply(this, arguments);
        try {
          check();
        } catch (e) {
          log('warn', 'page view failed', e);
        }
        return result;
      };
    });
    win.addEventListener('popstate', check);
  }

  function init(options) {
    if (!isObject(options)) return log('warn', "init takes an object, e.g. eS('init', {TRACKING: true})");
    Object.keys(options).forEach(function (k) {
      var v = options[k];
      if (!(k in cfg)) log('warn', 'init: unknown option ' + k);
      // Flags as shops write them (false, 0, 'false'); numbers must be numbers.
      else if (typeof cfg[k] == 'boolean') cfg[k] = !!v && v !== 'false';
      else if (typeof v != 'number' || !(v >= 0)) log('warn', 'init: ' + k + ' must be a number');
      else cfg[k] = v;
    });
  }

  function consent(granted) {
    if (granted) {
      var was = mode;
      mode = 'on';
      cookie('sc_out', '', 0);
      if (was != 'on') restore();
      if (!viewed) pageView();
      log('info', 'storage granted');
      schedule();
    } else {
      mode = 'off';
      queue = [];
      identity = {};
      loc = null;
      session = null;
      dropped = 0;
      visitor = rid(); // the old id is never used again
      clearTimeout(backoff);
      backoff = 0;
      cookie('sc', '', 0);
      cookie('sc_out', '1', YEAR_DAYS);
      if (store) KEYS.forEach(function (k) { store.removeItem(k); });
      log('info', 'opted out: nothing is sent and stored data is cleared');
    }
  }

  // Load the recommendations script once; fn(api) runs when it has registered.
  function withRecs(fn) {
    if (recs) return fn(recs);
    if (recsWait.push(fn) > 1) return;
    var s = doc.createElement('script');
    s.async = true;
    s.src = ((me && me.src) || '').replace(/\.js([?#]|$)/, '.recs.js$1');
    s.onerror = function () {
      register({page: function () {}, get: function (o, cb) { cb('recommendations are unavailable', []); }});
    };
    doc.head.appendChild(s);
  }

  function register(api) {
    recs = api;
    recsWait.splice(0).forEach(function (fn) { fn(api); });
  }

  var commands = {
    init: init,
    consent: consent,
    sendEvent: function (name, payload) { track('sendEvent', name, payload); },
    sendEventWithTags: function (name, payload) { track('sendEventWithTags', name, payload); },
    getRecommendations: function (options, callback) {
      if (typeof callback != 'function') return log('warn', 'getRecommendations needs a callback');
      withRecs(function (r) { r.get(options, callback); });
    }
  };

  function eS(command) {
    try {
      if (!Object.prototype.hasOwnProperty.call(commands, command)) {
        return log('warn', 'unknown command', command, '(known: ' + Object.keys(commands).join(', ') + ')');
      }
      commands[command].apply(null, [].slice.call(arguments, 1));
    } catch (e) {
      log('warn', 'call failed:', command, e); // never into the shop's page
    }
  }
  eS.shoptrack = true; // marks this copy as the one in charge
  // What the recommendations script (eS.recs.js) uses.
  eS.core = {
    r: register, c: cfg, l: log,
    v: function () { return visitor; },
    t: function (name, payload) { track('sendEvent', name, payload); }
  };

  function start() {
    // The snippet's f(...) calls f.c(arguments), and f.c pushes its own arguments: each
    // entry holds the call's arguments object as its first item.
    var calls = [].map.call((loader && loader.q) || [], function (entry) {
      return [].slice.call(entry && typeof entry[0] == 'object' ? entry[0] : entry);
    });
    win.eS = eS;
    // init decides the mode, so it applies first wherever it sits in the queue.
    calls.forEach(function (args) { if (args[0] == 'init') init(args[1]); });
    mode = cookie('sc_out') ? 'off' : cfg.storage === false ? 'mem' : 'on';
    if (mode == 'on') restore();
    else visitor = rid();
    if (mode != 'off') {
      readLocation();
      pageView();
    }
    calls.forEach(function (args) { if (args[0] != 'init') eS.apply(null, args); });
    if (cfg.spa) watchHistory();
    if (doc.readyState == 'complete') setTimeout(autoProduct);
    else win.addEventListener('load', function () { setTimeout(autoProduct); });
    win.addEventListener('pagehide', function () {
      autoProduct(); // left before the load event: the product view still counts
      onHide();
    });
    doc.addEventListener('visibilitychange', function () {
      if (doc.visibilityState == 'hidden') return onHide();
      beaconed = {}; // back in view: unconfirmed beacons are retried by fetch
      schedule();
    });
    win.addEventListener('online', function () {
      clearTimeout(backoff);
      backoff = 0;
      schedule();
    });
    schedule();
  }

  try {
    start();
  } catch (e) {
    log('warn', 'could not start', e);
  }
})(window, document);
