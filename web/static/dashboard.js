// Schwarm merchant dashboard: progressive enhancement only. Every page works without this
// file; with it, forms are sent once, progress bars follow commitments live, the venue form
// gets a map pin, and the redemption form can scan a code with the camera.
(function () {
  "use strict";

  // A form is sent once: a second tap while the first request runs would send it twice.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.sending) {
      event.preventDefault();
      return;
    }
    form.dataset.sending = "1";
    Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (button) {
      button.setAttribute("aria-disabled", "true");
    });
  });
  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-sending]"), function (form) {
      delete form.dataset.sending;
    });
  });

  // Live progress: poll the merchant's deals shown on the page every few seconds.
  function followProgress() {
    var boxes = document.querySelectorAll("[data-deal]");
    if (!boxes.length) {
      return;
    }
    var seconds = Number(document.body.dataset.pollSeconds) || 5;
    var ids = Array.prototype.map.call(boxes, function (box) { return box.dataset.deal; });
    var url = document.body.dataset.progressUrl + "?" + ids.map(function (id) {
      return "id=" + encodeURIComponent(id);
    }).join("&");

    function text(box, selector, value) {
      var element = box.querySelector(selector);
      if (element && element.textContent !== value) {
        element.textContent = value;
      }
    }

    function show(deal) {
      Array.prototype.forEach.call(boxes, function (box) {
        if (box.dataset.deal !== deal.id) {
          return;
        }
        var tip = Math.min(deal.committed_count, deal.min_commitments);
        var status = box.querySelector("[data-status]");
        status.className = "status status-" + deal.status;
        text(box, "[data-status]", deal.status_label);
        text(box, "[data-committed]", String(deal.committed_count));
        var tipBar = box.querySelector("[data-tip]");
        tipBar.max = deal.min_commitments;
        tipBar.value = tip;
        text(box, "[data-tip-text]", tip + " / " + deal.min_commitments);
        var capBar = box.querySelector("[data-cap]");
        if (capBar && deal.max_commitments) {
          capBar.max = deal.max_commitments;
          capBar.value = deal.committed_count;
          text(box, "[data-cap-text]", deal.committed_count + " / " + deal.max_commitments);
        }
      });
    }

    function poll() {
      if (document.visibilityState === "hidden") {
        window.setTimeout(poll, seconds * 1000);
        return;
      }
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (!response.ok || type.indexOf("application/json") !== 0) {
            throw new Error("signed out or unavailable");
          }
          return response.json();
        })
        .then(function (body) {
          body.deals.forEach(show);
          window.setTimeout(poll, seconds * 1000);
        })
        .catch(function () {
          window.setTimeout(poll, seconds * 4000); // back off; the page itself still works
        });
    }
    window.setTimeout(poll, seconds * 1000);
  }

  // The venue's pin: click or tap the map, drag the pin, or type the coordinates.
  function pinOnMap() {
    var box = document.querySelector("[data-map]");
    var lat = document.getElementById("f-lat");
    var lon = document.getElementById("f-lon");
    if (!box || !lat || !lon || !window.L) {
      return;
    }
    box.hidden = false;
    var typed = function () {
      var point = [parseFloat(lat.value.replace(",", ".")), parseFloat(lon.value.replace(",", "."))];
      return isFinite(point[0]) && isFinite(point[1]) ? point : null;
    };
    var start = typed();
    var map = window.L.map(box).setView(start || [51.1657, 10.4515], start ? 16 : 5);
    window.L.tileLayer(box.dataset.tiles, {
      attribution: box.dataset.attribution,
      maxZoom: 19
    }).addTo(map);
    var marker = null;
    function place(point) {
      if (marker) {
        marker.setLatLng(point);
        return;
      }
      marker = window.L.marker(point, { draggable: true, keyboard: true, title: box.getAttribute("aria-label") });
      marker.addTo(map).on("dragend", function () { fill(marker.getLatLng()); });
    }
    function fill(point) {
      var wrapped = window.L.latLng(point.lat, point.lng).wrap();
      lat.value = wrapped.lat.toFixed(6);
      lon.value = wrapped.lng.toFixed(6);
    }
    if (start) {
      place(start);
    }
    map.on("click", function (event) {
      place(event.latlng);
      fill(event.latlng);
    });
    [lat, lon].forEach(function (input) {
      input.addEventListener("change", function () {
        var point = typed();
        if (point) {
          place(point);
          map.panTo(point);
        }
      });
    });
  }

  // Scanning a voucher code where the browser has the BarcodeDetector API and a camera.
  function scanCodes() {
    var button = document.querySelector("[data-scan]");
    var video = document.querySelector("[data-scan-video]");
    var form = document.querySelector("[data-redeem]");
    if (!button || !video || !form || !("BarcodeDetector" in window) || !navigator.mediaDevices) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var detector = new window.BarcodeDetector();
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        video.srcObject = stream;
        video.hidden = false;
        return video.play().then(function () {
          function look() {
            detector.detect(video).then(function (codes) {
              if (!codes.length) {
                window.requestAnimationFrame(look);
                return;
              }
              stream.getTracks().forEach(function (track) { track.stop(); });
              video.hidden = true;
              form.querySelector("[name=code]").value = codes[0].rawValue;
              form.requestSubmit();
            }).catch(function () { window.requestAnimationFrame(look); });
          }
          look();
        });
      }).catch(function () {
        button.hidden = true; // no camera, or permission refused: typing still works
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    followProgress();
    pinOnMap();
    scanCodes();
  });
})();
