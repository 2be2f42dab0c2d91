using System.Globalization;
using System.Text.Json.Serialization;

namespace Transformer.Tests;

/// <summary>One delivery of an event as the Ingestor stores it (copies are separate rows).</summary>
public sealed record RawEvent
{
    public required string TenantId { get; init; }
    public required string EventId { get; init; }
    public string EventType { get; init; } = "track";
    public required string EventName { get; init; }
    public string UserId { get; init; } = "";
    public string AnonymousId { get; init; } = "";
    public string SessionId { get; init; } = "";
    public required DateTime EventTime { get; init; }
    public required DateTime ReceivedAt { get; init; }
    public string Properties { get; init; } = "{}";
    public string Page { get; init; } = "";
    public string Country { get; init; } = "";
    public string Device { get; init; } = "";
    public string Os { get; init; } = "";
    public string AppVersion { get; init; } = "";

    public string ActorId => UserId.Length > 0 ? UserId : AnonymousId;

    public DateOnly EventDate => DateOnly.FromDateTime(EventTime);

    /// <summary>
    /// Every column of raw_events: ClickHouse 18.16 fills a column missing from a JSONEachRow line
    /// with zero, not with its DEFAULT.
    /// </summary>
    public RawEventRow ToRow() => new()
    {
        TenantId = TenantId,
        EventId = EventId,
        EventType = EventType,
        EventName = EventName,
        EventVersion = "1",
        UserId = UserId,
        AnonymousId = AnonymousId,
        SessionId = SessionId,
        EventTime = Format(EventTime),
        EventTimeMs = 0,
        OriginalTime = Format(EventTime),
        SentAt = Format(ReceivedAt),
        ReceivedAt = Format(ReceivedAt),
        Properties = Properties,
        Context = "{}",
        AppVersion = AppVersion,
        Os = Os,
        Device = Device,
        Locale = "en-US",
        Timezone = "UTC",
        Country = Country,
        Library = "tests",
        Page = Page,
        UserAgent = "",
        Traits = "{}",
        PreviousId = "",
        GroupId = "",
        SchemaVersion = 2,
        InsertedAt = Format(ReceivedAt),
    };

    private static string Format(DateTime time) => time.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
}

public sealed record RawEventRow
{
    public string TenantId { get; init; } = "";
    public string EventId { get; init; } = "";
    public string EventType { get; init; } = "";
    public string EventName { get; init; } = "";
    public string EventVersion { get; init; } = "";
    public string UserId { get; init; } = "";
    public string AnonymousId { get; init; } = "";
    public string SessionId { get; init; } = "";
    public string EventTime { get; init; } = "";
    public int EventTimeMs { get; init; }
    public string OriginalTime { get; init; } = "";
    public string SentAt { get; init; } = "";
    public string ReceivedAt { get; init; } = "";
    public string Properties { get; init; } = "";
    public string Context { get; init; } = "";
    public string AppVersion { get; init; } = "";
    public string Os { get; init; } = "";
    public string Device { get; init; } = "";
    public string Locale { get; init; } = "";
    public string Timezone { get; init; } = "";
    public string Country { get; init; } = "";
    public string Library { get; init; } = "";
    public string Page { get; init; } = "";
    public string UserAgent { get; init; } = "";
    public string Traits { get; init; } = "";
    public string PreviousId { get; init; } = "";
    public string GroupId { get; init; } = "";
    public int SchemaVersion { get; init; }
    public string InsertedAt { get; init; } = "";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(RawEventRow))]
internal sealed partial class RawEventJsonContext : JsonSerializerContext;

/// <summary>
/// A small, deterministic product-analytics history: three tenants over 40 days that share event
/// ids and user ids (so nothing may fold or count across tenants), users in cohorts a few days
/// apart, byte-identical redelivered copies, client resends of one event_id with a later
/// received_at and a slightly different time (later, and earlier), client and gap sessions (gaps of
/// 1799, 1800 and 1801 seconds), sessions across midnight, and signup funnels complete and partial.
/// <see cref="Originals"/> and <see cref="Copies"/> are inserted before the first run, as two inserts
/// (a redelivered batch is its own insert); <see cref="Late"/> arrives after it.
/// </summary>
public sealed class ShippedModelsDataset
{
    /// <summary>The clock of every run: the last day of the data, in the afternoon.</summary>
    public static readonly DateTimeOffset Now = new(2026, 3, 15, 18, 0, 0, TimeSpan.Zero);

    public static readonly DateOnly FirstDay = new(2026, 2, 4);

    public const int Days = 40;

    public const string Acme = "acme";
    public const string Globex = "globex";
    public const string Initech = "initech";

    private static readonly string[] Features = ["open_app", "search", "add_to_cart", "checkout", "share"];
    private static readonly string[] Countries = ["DE", "US", "FR"];
    private static readonly string[] Devices = ["desktop", "phone"];
    private static readonly string[] Pages = ["/pricing", "https://shop.example/docs/start?x=1", "/signup-help"];
    private static readonly int[] GapSeconds = [30, 240, 1799, 1800, 1801, 2700];

    private readonly Dictionary<string, int> _ids = [];

    public List<RawEvent> Originals { get; } = [];

    public List<RawEvent> Copies { get; } = [];

    public List<RawEvent> Late { get; } = [];

    public IEnumerable<RawEvent> All => Originals.Concat(Copies).Concat(Late);

    public static ShippedModelsDataset Generate()
    {
        var data = new ShippedModelsDataset();
        data.AddUsers(Acme, seed: 11);
        data.AddUsers(Globex, seed: 23);
        data.AddEdgeCases();
        data.AddFunnels();
        data.AddInitech();
        data.AddLate();
        return data;
    }

    /// <summary>Event ids restart per tenant ("e-00001", ...), so every tenant uses the same ids.</summary>
    private string NextId(string tenant)
    {
        var n = _ids.GetValueOrDefault(tenant) + 1;
        _ids[tenant] = n;
        return $"e-{n:D5}";
    }

    private static DateTime At(int day, int hour, int minute, int second = 0) =>
        FirstDay.AddDays(day).ToDateTime(new TimeOnly(hour, minute, second), DateTimeKind.Utc);

    private RawEvent Add(
        string tenant, string user, string anonymous, string name, DateTime time,
        string session = "", string type = "track", string page = "", string properties = "{}",
        string country = "DE", string device = "desktop")
    {
        var e = new RawEvent
        {
            TenantId = tenant,
            EventId = NextId(tenant),
            EventType = type,
            EventName = name,
            UserId = user,
            AnonymousId = anonymous,
            SessionId = session,
            EventTime = time,
            ReceivedAt = time.AddSeconds(1 + (_ids[tenant] % 4)),
            Properties = properties,
            Page = page,
            Country = country,
            Device = device,
            Os = device == "phone" ? "ios" : "macos",
            AppVersion = device == "phone" ? "2.1" : "web",
        };
        Originals.Add(e);
        return e;
    }

    /// <summary>Twelve users a tenant, first seen three days apart, active on about a third of the later days.</summary>
    private void AddUsers(string tenant, int seed)
    {
        var random = new Random(seed);
        var index = 0;
        for (var k = 0; k < 12; k++)
        {
            // Every fourth user never identifies: its actor is the anonymous id.
            var user = k % 4 == 3 ? "" : $"u{k:D2}";
            var anonymous = $"anon-{k:D2}";
            var firstDay = k * 3;
            for (var day = firstDay; day < Days; day++)
            {
                // The runs' lookback starts on day 36 (2026-03-12); the day before it stays quiet so a
                // session-less chain of events never straddles the start of the re-read range.
                if ((day != firstDay && random.NextDouble() > 0.3) || day == 35)
                {
                    continue;
                }

                var visits = 1 + random.Next(2);
                for (var v = 0; v < visits; v++)
                {
                    var session = random.Next(2) == 0 ? $"s-{k:D2}-{day:D2}-{v}" : "";
                    var time = At(day, 8 + random.Next(12), random.Next(60), random.Next(60));
                    var country = Countries[random.Next(Countries.Length)];
                    var device = Devices[random.Next(Devices.Length)];
                    var count = 1 + random.Next(5);
                    for (var i = 0; i < count; i++)
                    {
                        if (i > 0)
                        {
                            time = time.AddSeconds(GapSeconds[random.Next(GapSeconds.Length)]);
                        }

                        var e = i == 0 && random.Next(3) == 0
                            ? Add(tenant, user, anonymous, "$page", time, session, "page", Pages[random.Next(Pages.Length)], country: country, device: device)
                            : Add(tenant, user, anonymous, Features[random.Next(Features.Length)], time, session, country: country, device: device);
                        AddCopies(e, index++);
                    }
                }
            }
        }
    }

    /// <summary>Redelivered batches (byte-identical) and client resends (same id, new receipt, time moved).</summary>
    private void AddCopies(RawEvent e, int index)
    {
        if (index % 7 == 3)
        {
            Copies.Add(e);
        }

        if (index % 11 == 5)
        {
            // A resend carrying the old sent_at: corrected to a later time; the first copy stays the event.
            Copies.Add(e with { EventTime = e.EventTime.AddSeconds(2), ReceivedAt = e.ReceivedAt.AddMinutes(2) });
        }

        if (index % 13 == 6)
        {
            // A resend corrected to an earlier time: it becomes the event's time.
            Copies.Add(e with { EventTime = e.EventTime.AddSeconds(-3), ReceivedAt = e.ReceivedAt.AddMinutes(1) });
        }
    }

    private void AddEdgeCases()
    {
        // A client session across midnight belongs to the day it started.
        foreach (var (minute, name) in new[] { (0, "open_app"), (15, "search"), (30, "add_to_cart"), (45, "checkout") })
        {
            Add(Acme, "night-owl", "anon-night", name, At(10, 23, 30).AddMinutes(minute), session: "s-midnight", country: "US", device: "phone");
        }

        // A session-less chain across midnight (25 minutes apart), then gaps just under, at and over 30 minutes.
        var t = At(12, 23, 50);
        Add(Acme, "gapper", "anon-gapper", "open_app", t, country: "FR");
        t = t.AddMinutes(25);
        Add(Acme, "gapper", "anon-gapper", "search", t, country: "FR");
        t = t.AddSeconds(1799);
        Add(Acme, "gapper", "anon-gapper", "add_to_cart", t, country: "FR");
        t = t.AddSeconds(1800);
        Add(Acme, "gapper", "anon-gapper", "checkout", t, country: "FR");
        t = t.AddSeconds(1801);
        Add(Acme, "gapper", "anon-gapper", "share", t, country: "FR");

        // Resends across midnight: the day of the earliest copy wins, in either order of arrival.
        var before = Add(Acme, "u00", "anon-00", "share", At(14, 23, 59, 59));
        Copies.Add(before with { EventTime = At(15, 0, 0, 2), ReceivedAt = At(15, 0, 3, 0) });
        var after = Add(Acme, "u01", "anon-01", "share", At(16, 0, 0, 1));
        Copies.Add(after with { EventTime = At(15, 23, 59, 58), ReceivedAt = At(16, 0, 5, 0) });

        // Two events of one session in the same second: ordered by event_id.
        Add(Globex, "u02", "anon-02", "open_app", At(20, 9, 0), session: "s-same-second");
        Add(Globex, "u02", "anon-02", "search", At(20, 9, 0), session: "s-same-second");
    }

    private void AddFunnels()
    {
        const string Url = "https://acme.example/signup?utm_source=ad#top";
        // Complete: viewed (URL), submitted, completed.
        Add(Acme, "", "f-complete", "$page", At(20, 10, 0), type: "page", page: Url);
        Add(Acme, "", "f-complete", "signup_submitted", At(20, 10, 4));
        Add(Acme, "", "f-complete", "signup_completed", At(20, 10, 5));
        // Partial: viewed (path), submitted, never completed.
        Add(Acme, "", "f-partial", "$page", At(21, 11, 0), type: "page", page: "/signup");
        Add(Acme, "", "f-partial", "signup_submitted", At(21, 11, 2));
        // Viewed only, recognised from properties.path; then an unrelated page.
        Add(Acme, "", "f-view-only", "$page", At(22, 12, 0), type: "page", properties: "{\"path\":\"/signup\",\"name\":\"Sign up\"}");
        Add(Acme, "", "f-view-only", "$page", At(22, 12, 1), type: "page", page: "/signup-help");
        // Submitted and completed before viewing: neither counts, the view does.
        Add(Acme, "", "f-early", "signup_submitted", At(23, 9, 0));
        Add(Acme, "", "f-early", "signup_completed", At(23, 9, 1));
        Add(Acme, "", "f-early", "$page", At(23, 9, 30), type: "page", page: "/signup/");
        // Viewed twice (the first view counts), submitted twice, completed after the second submit.
        Add(Acme, "f-twice", "anon-twice", "$page", At(24, 8, 0), type: "page", page: "/signup");
        Add(Acme, "f-twice", "anon-twice", "$page", At(25, 8, 0), type: "page", page: "/signup");
        Add(Acme, "f-twice", "anon-twice", "signup_submitted", At(25, 8, 10));
        Add(Acme, "f-twice", "anon-twice", "signup_submitted", At(25, 8, 20));
        Add(Acme, "f-twice", "anon-twice", "signup_completed", At(25, 8, 30));
        // Completed without a submit after the view: step 3 is not reached without step 2.
        Add(Acme, "", "f-skip", "$page", At(26, 8, 0), type: "page", page: "/signup");
        Add(Acme, "", "f-skip", "signup_completed", At(26, 8, 5));
        // A page call named after the step (not a track call) is not a submit.
        Add(Acme, "", "f-wrong-type", "$page", At(27, 8, 0), type: "page", page: "/signup");
        Add(Acme, "", "f-wrong-type", "signup_submitted", At(27, 8, 1), type: "page", page: "/signup");
        // Another tenant's funnel with the same anonymous id.
        Add(Globex, "", "f-complete", "$page", At(30, 10, 0), type: "page", page: "/signup");
    }

    /// <summary>A small tenant whose ids (events, users, sessions) all exist in acme too.</summary>
    private void AddInitech()
    {
        for (var i = 0; i < 6; i++)
        {
            Add(Initech, "u01", "anon-01", i % 2 == 0 ? "initech_report" : "open_app", At(5 + (i * 5), 9, i), session: "s-01-05-0", country: "GB");
        }
    }

    /// <summary>Arriving after the first run: inside the lookback (two and one days late), and a new user.</summary>
    private void AddLate()
    {
        var received = Now.UtcDateTime;
        Late.Add(Originals.First(e => e.TenantId == Acme) with
        {
            // A third copy of an old event, delivered again much later: changes nothing.
            ReceivedAt = received,
        });
        var id = Originals.Count(e => e.TenantId == Acme);
        foreach (var (day, hour, user, name) in new[] { (37, 12, "u00", "checkout"), (38, 7, "u01", "search"), (37, 13, "late-user", "open_app"), (38, 14, "late-user", "share") })
        {
            id++;
            Late.Add(new RawEvent
            {
                TenantId = Acme,
                EventId = $"late-{id:D5}",
                EventName = name,
                UserId = user,
                AnonymousId = "anon-" + user,
                EventTime = At(day, hour, 0),
                ReceivedAt = received,
                Country = "DE",
                Device = "desktop",
                Os = "macos",
                AppVersion = "web",
            });
        }
    }
}
