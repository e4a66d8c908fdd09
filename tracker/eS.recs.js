/*
 * shoptrack recommendations: the second, lazily loaded part of the browser tracker.
 *
 * eS.js loads this file (GET /scripts/{site}.recs.js, served like the tracker with the
 * recommendations endpoint of the site baked in below) the first time it is needed:
 *
 *   eS('getRecommendations', {variantId, productId, productIds, categoryKey, allFields,
 *      filters, limit}, function (error, products) {...})
 *     asks GET {recs}/{site}?variant=…; the callback gets (null, products) or
 *     (error message, []), e.g. "variantId r1v2 was not found in config".
 *
 *   With init {RECOMS: true} (the default) the blocks of the page render by themselves: the
 *   page's events tell its type (MainPage → main, CategoryPage → category, ProductPage →
 *   product, StatusCartPage / StatusCart → cart, NotFound → 404, PurchasedItems → purchase;
 *   a StatusCart only when no other type was told, since carts change on every page). The
 *   live blocks of that type (GET {recs}/{site}/blocks) are inserted at their CSS selector
 *   and position with their HTML template, and ProductImpressions are sent when a block
 *   becomes visible: once per rendered block, the blocks seen together in one event.
 *
 * Templates (set by the shop's staff, trusted) fill {{field}} with a product's field and
 * repeat the part between {{#products}} and {{/products}} for every product; outside it,
 * {{title}} and the block's other fields. Without that part the whole template is repeated
 * per product. Every value is HTML-escaped (text and attributes alike, quotes, backtick and
 * = too); a value that is a URL (fields named url, image, link…, or standing first in an
 * href / src / action attribute) is kept only when it is http(s), else left empty. Product
 * data comes from feeds and must never be able to inject markup or script.
 *
 * Preview: a page opened with ?sc_preview=TOKEN also shows the blocks in preview with that
 * token, for the rest of the tab's visit.
 *
 * No template literals: the Python minifier (rjsmin) works on regular expressions.
 */
(function (win, doc) {
  'use strict';
  var API = '%%RECS_API%%';
  var core = win.eS && win.eS.core;
  if (!core || !core.r || core.recs) return; // no tracker, or this file ran already
  core.recs = true;

  var TYPES = {
    mainpage: 'main', categorypage: 'category', productpage: 'product', statuscartpage: 'cart',
    statuscart: 'cart', notfound: '404', purchaseditems: 'purchase'
  };
  var POSITIONS = /^(beforebegin|afterbegin|beforeend|afterend)$/;
  var URL_FIELD = /(^|_)(url|link|image|img|src|href|picture|photo)s?$|^imgurl$/i;
  // A placeholder anywhere inside a URL attribute's value (quoted or not) must be a URL;
  // srcdoc holds a whole document, so it is held to the same rule (anything else: empty).
  var URL_ATTRIBUTE = /\s(href|src|action|formaction|poster|background|cite|data|srcdoc|xlink:href)\s*=\s*(["'][^"']*|[^\s"'>]*)$/i;
  var DEFAULT_TEMPLATE =
    '<div class="sc-recs-title">{{title}}</div><ul class="sc-recs-list">{{#products}}' +
    '<li><a href="{{url}}"><img src="{{image}}" alt="{{name}}" loading="lazy">' +
    '<span class="sc-recs-name">{{name}}</span> ' +
    '<span class="sc-recs-price">{{price}} {{currency}}</span></a></li>{{/products}}</ul>';

  var current = null; // what is rendered: page type and URL
  var told = null; // the page type the events told
  var views = []; // rendered blocks: {el, items, ct, seen}
  var pending = []; // blocks seen, waiting to go out together
  var timer = 0;
  var observer = win.IntersectionObserver ? new IntersectionObserver(onSeen, {threshold: [0, 0.5]}) : null;
  var preview = (function () {
    var m = /[?&]sc_preview=([^&#]+)/.exec(location.search);
    try {
      if (m) sessionStorage.setItem('sc_preview', decodeURIComponent(m[1]));
      return sessionStorage.getItem('sc_preview') || '';
    } catch (e) {
      return m ? decodeURIComponent(m[1]) : '';
    }
  })();

  function log(level, message) {
    core.l(level, message);
  }

  function query(params) {
    return Object.keys(params).filter(function (k) {
      return params[k] != null && params[k] !== '';
    }).map(function (k) {
      return k + '=' + encodeURIComponent(params[k]);
    }).join('&');
  }

  // GET JSON; done(error, body) with the server's error message when it sent one.
  function getJSON(url, done) {
    fetch(url, {credentials: 'omit'}).then(function (r) {
      return r.json().then(function (body) {
        var e = body && body.error;
        if (r.ok) return done(null, body || {});
        done((e && (e.message || (typeof e == 'string' && e))) || 'HTTP ' + r.status, body);
      }, function () {
        done('HTTP ' + r.status);
      });
    }, function (e) {
      done('network error: ' + (e && e.message));
    });
  }

  function variantOf(containerType) {
    return String(containerType || '').replace(/^[^_]*_/, '');
  }

  function products(params, done) {
    getJSON(API + '?' + query(params), function (error, body) {
      var list = !error && body && Array.isArray(body.products) ? body.products : [];
      done(error, list);
    });
  }

  // eS('getRecommendations', options, callback)
  function get(o, callback) {
    o = o && typeof o == 'object' ? o : {};
    function answer(error, list) {
      // Outside our promise chain: an error in the shop's callback is the shop's own.
      setTimeout(function () { callback(error, list); });
    }
    if (!o.variantId) return answer('variantId is required', []);
    products({
      variant: o.variantId,
      visitor: core.v(),
      product: o.productId,
      products: [].concat(o.productIds || []).join(','),
      category: o.categoryKey,
      all_fields: o.allFields ? 1 : '',
      filters: o.filters ? JSON.stringify(o.filters) : '',
      limit: o.limit
    }, answer);
  }

  // --- templates --------------------------------------------------------------------------
  function escapeHtml(value) {
    return String(value).replace(/[&<>"'\x60=]/g, function (c) {
      return '&#' + c.charCodeAt(0) + ';';
    });
  }

  function text(value) {
    if (value == null || typeof value == 'object' && !Array.isArray(value)) return '';
    return Array.isArray(value) ? value.filter(function (v) { return typeof v != 'object'; }).join(', ') : String(value);
  }

  function fill(template, data) {
    return template.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, function (whole, name, at, all) {
      var value = name.split('.').reduce(function (v, k) {
        return v != null && typeof v == 'object' ? v[k] : undefined;
      }, data);
      value = text(value);
      if (URL_FIELD.test(name) || URL_ATTRIBUTE.test(all.slice(Math.max(0, at - 200), at))) {
        if (!/^https?:\/\//i.test(value)) value = '';
      }
      return escapeHtml(value);
    });
  }

  function html(block, items) {
    var t = block.template || DEFAULT_TEMPLATE;
    var m = /\{\{#products\}\}([\s\S]*?)\{\{\/products\}\}/.exec(t);
    var each = items.map(function (p) { return fill(m ? m[1] : t, p); }).join('');
    return m ? fill(t.slice(0, m.index), block) + each + fill(t.slice(m.index + m[0].length), block) : each;
  }

  // --- blocks -----------------------------------------------------------------------------
  function context(payload) {
    var found = {products: [], category: ''};
    (function walk(node, depth) {
      if (!node || typeof node != 'object' || depth > 5) return;
      Object.keys(node).forEach(function (k) {
        var v = node[k];
        if (/^(productkey|product_id|productid)$/i.test(k) && v != null && typeof v != 'object') {
          found.products.push(String(v));
        } else if (/^(categorykey|category_id|categoryid)$/i.test(k) && typeof v != 'object') {
          found.category = found.category || String(v);
        } else {
          walk(v, depth + 1);
        }
      });
    })(payload, 0);
    return found;
  }

  function clear() {
    views.forEach(function (view) {
      if (observer) observer.unobserve(view.el);
      if (view.el.parentNode) view.el.parentNode.removeChild(view.el);
    });
    views = [];
  }

  // A page event: render the blocks of its type (again only when the type or URL changed).
  function page(lower, payload) {
    var type = TYPES[lower];
    if (!type || (lower == 'statuscart' && told && told != 'cart')) return;
    told = type;
    var key = type + ' ' + location.href;
    if (key == current) return;
    current = key;
    clear();
    var ctx = context(payload);
    getJSON(API + '/blocks?' + query({page_type: type, visitor: core.v(), preview: preview}), function (error, body) {
      if (error) return log('warn', 'recommendation blocks: ' + error);
      if (key != current) return; // the page moved on meanwhile
      (body.blocks || []).forEach(function (block) { render(block, ctx, key); });
    });
  }

  function render(block, ctx, key) {
    var target = null;
    try {
      target = block.selector && doc.querySelector(block.selector);
    } catch (e) {
      // an invalid selector: reported below
    }
    if (!target) return log('warn', 'block ' + block.block_id + ': no element matches ' + block.selector);
    products({
      variant: variantOf(block.container_type) || 'r' + block.block_id + 'v' + block.variant_id,
      visitor: core.v(),
      product: ctx.products[0],
      products: ctx.products.join(','),
      category: ctx.category,
      limit: block.count
    }, function (error, items) {
      if (error) return log('warn', 'block ' + block.block_id + ': ' + error);
      if (key != current || !items.length) return;
      var el = doc.createElement('div');
      el.className = 'sc-recs';
      el.setAttribute('data-sc-block', block.container_type);
      el.innerHTML = html(block, items);
      target.insertAdjacentElement(POSITIONS.test(block.position) ? block.position : 'beforeend', el);
      var view = {el: el, items: items, ct: block.container_type, seen: false};
      views.push(view);
      if (observer) observer.observe(el);
      else seen(view); // no IntersectionObserver: shown is all we can know
    });
  }

  // --- impressions ------------------------------------------------------------------------
  function onSeen(entries) {
    entries.forEach(function (entry) {
      var half = entry.intersectionRatio >= 0.5 || entry.intersectionRect.height >= win.innerHeight / 2;
      if (!entry.isIntersecting || !half) return;
      views.forEach(function (view) {
        if (view.el == entry.target) seen(view);
      });
    });
  }

  function seen(view) {
    if (view.seen) return;
    view.seen = true;
    if (observer) observer.unobserve(view.el);
    pending.push(view);
    // Blocks that come into view together leave in one event.
    if (!timer) timer = setTimeout(sendSeen, 50);
  }

  function sendSeen() {
    timer = 0;
    var shown = [];
    pending.splice(0).forEach(function (view) {
      view.items.forEach(function (p) {
        shown.push({product_id: String(p.product_id), container_type: p.container_type || view.ct});
      });
    });
    if (shown.length) core.t('ProductImpressions', {ProductImpression: shown});
  }

  core.r({get: get, page: page});
})(window, document);
