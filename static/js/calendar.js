// The staff calendar grid (templates/staff/calendar.html), drawn by EventCalendar (vendored in
// static/vendor/event-calendar). Its settings come from the page's JSON (json_script): the CSP
// allows no inline script. Times are wall-clock times of the practice's zone, and the grid runs
// in UTC (a zone without daylight saving) so they show as they are in any browser; every date
// the grid hands back is read with the UTC getters and sent as that same wall-clock time.
(function () {
  "use strict";
  var element = document.getElementById("calendar");
  var source = element && document.getElementById(element.dataset.configId);
  if (!source || typeof EventCalendar === "undefined") return;
  var config = JSON.parse(source.textContent);
  var statusLine = document.getElementById("calendar-status");
  var dialog = document.getElementById("calendar-confirm");
  var csrf = document.querySelector("#calendar-csrf input[name=csrfmiddlewaretoken]").value;
  var DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function pad(number) { return (number < 10 ? "0" : "") + number; }
  function isoDate(date) {
    return date.getUTCFullYear() + "-" + pad(date.getUTCMonth() + 1) + "-" + pad(date.getUTCDate());
  }
  function isoTime(date) { return pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes()); }
  function clock(date) {
    var hours = date.getUTCHours() % 12 || 12;
    return hours + ":" + pad(date.getUTCMinutes()) + " " + (date.getUTCHours() < 12 ? "AM" : "PM");
  }
  function label(date) {
    return DAYS[date.getUTCDay()] + " " + MONTHS[date.getUTCMonth()] + " " + date.getUTCDate() + ", " + clock(date);
  }
  function say(text, isProblem) {
    statusLine.textContent = text;
    statusLine.classList.toggle("cal-status-problem", Boolean(isProblem));
  }
  function resourceTitle(id) {
    for (var i = 0; i < config.resources.length; i++) {
      if (config.resources[i].id === String(id)) return config.resources[i].title;
    }
    return "";
  }

  function fetchEvents(info, success, failure) {
    var params = new URLSearchParams({ start: isoDate(info.start), end: isoDate(info.end) });
    if (config.clinician) params.set("clinician", config.clinician);
    fetch(config.eventsUrl + "?" + params.toString(), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.reload();  // Signed out (idle limit): the sign-in page takes over.
          return null;
        }
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error || "The calendar could not be loaded.");
          return body.events;
        });
      })
      .then(function (events) { if (events) success(events); })
      .catch(function (error) {
        say(error.message || "The calendar could not be loaded.", true);
        failure(error);
      });
  }

  function content(info) {
    var event = info.event;
    if (event.display === "background") {
      return event.title ? { domNodes: [textNode("span", "cal-background-title", event.title)] } : "";
    }
    var props = event.extendedProps;
    return {
      domNodes: [
        textNode("span", "cal-event-time", clock(event.start) + "–" + clock(event.end)),
        textNode("span", "cal-event-title", event.title),
        textNode("span", "cal-event-status", props.statusLabel + (props.inSeries ? " · series" : "")),
      ],
    };
  }
  function textNode(tag, className, text) {
    var node = document.createElement(tag);
    node.className = className;
    node.textContent = text;
    return node;
  }

  function book(info) {
    if (!config.bookUrl || info.allDay) return;
    var params = new URLSearchParams({ date: isoDate(info.date), start_time: isoTime(info.date) });
    var clinician = info.resource ? info.resource.id : config.clinician;
    if (clinician) params.set("clinician", clinician);
    window.location.assign(config.bookUrl + "?" + params.toString());
  }

  function open(info) {
    if (info.event.display === "background" || !info.event.extendedProps.url) return;
    window.location.assign(info.event.extendedProps.url);
  }

  // A drop asks first: "Move <time> to <time>?". Keeping it (or Escape) puts it back.
  function drop(info) {
    var event = info.event;
    var props = event.extendedProps;
    var moved = info.newResource ? info.newResource.id : null;
    var text = "Move " + label(info.oldEvent.start) + " to " + label(event.start);
    if (moved) text += " with " + resourceTitle(moved);
    document.getElementById("calendar-confirm-text").textContent = text + "?";
    var scope = document.getElementById("calendar-confirm-scope");
    scope.hidden = !props.inSeries;
    scope.querySelector("input[value=this]").checked = true;
    dialog.returnValue = "";
    dialog.addEventListener("close", function answered() {
      dialog.removeEventListener("close", answered);
      if (dialog.returnValue !== "move") {
        info.revert();
        say("Not moved: the session stays at " + label(info.oldEvent.start) + ".");
        return;
      }
      var chosen = scope.querySelector("input[name=scope]:checked");
      send(info, props.moveUrl, {
        start: isoDate(event.start) + "T" + isoTime(event.start),
        clinician: moved || "",
        scope: props.inSeries && chosen ? chosen.value : "this",
      });
    });
    dialog.showModal();
    document.getElementById("calendar-confirm-move").focus();
  }

  function send(info, url, fields) {
    var body = new URLSearchParams(fields);
    say("Moving…");
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      body: body,
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") === -1) {
          throw new Error(response.status === 403 ? "You cannot move this session." : "The session could not be moved.");
        }
        return response.json();
      })
      .then(function (result) {
        if (!result.ok) throw new Error(result.message || "The session could not be moved.");
        say(result.message);
        calendar.refetchEvents();
      })
      .catch(function (error) {
        info.revert();
        say("Not moved: " + error.message, true);
      });
  }

  var calendar = EventCalendar.create(element, {
    view: config.view,
    date: config.date,
    timeZone: "UTC",
    resources: config.resources,
    eventSources: [{ events: fetchEvents }],
    // "Today" on the practice's clock (the grid's own button would use the date in UTC).
    customButtons: {
      practiceToday: { text: "Today", click: function () { calendar.setOption("date", config.today); } },
    },
    headerToolbar: { start: "prev,next practiceToday", center: "title", end: "resourceTimeGridDay,resourceTimeGridWeek" },
    buttonText: function (text) {
      return Object.assign({}, text, { resourceTimeGridDay: "Day", resourceTimeGridWeek: "Week" });
    },
    firstDay: 1,  // weeks start on Monday, as on My week
    // A week has a column per day for each clinician: "Mon 30" fits where "Mon, 11/30" is cut off.
    views: { resourceTimeGridWeek: { dayHeaderFormat: { weekday: "short", day: "numeric" } } },
    allDaySlot: false,
    slotMinTime: config.slotMinTime,
    slotMaxTime: config.slotMaxTime,
    flexibleSlotTimeLimits: true,
    slotDuration: "00:30",
    slotHeight: 36,
    snapDuration: "00:15",
    scrollTime: config.slotMinTime,
    height: "auto",
    editable: config.canEdit,
    eventStartEditable: config.canEdit,
    eventDurationEditable: false,
    selectable: false,
    pointer: config.canEdit,
    eventContent: content,
    eventClick: open,
    dateClick: book,
    eventDrop: drop,
    datesSet: function (info) {
      // Keep the address in step with what is shown (dates and ids only, never a name).
      var params = new URLSearchParams({
        view: info.view.type === "resourceTimeGridDay" ? "day" : "week",
        date: isoDate(info.view.currentStart),
      });
      if (config.clinician) params.set("clinician", config.clinician);
      window.history.replaceState(null, "", "?" + params.toString());
    },
  });
})();
