using System.Buffers;
using System.Text;
using System.Text.Json;

namespace LoadGenerator.Events;

/// <summary>
/// One event's content apart from its id and time: who, what, and the flat properties and context a
/// real SDK sends. Properties and context are kept as compact JSON, the text the Collector stores.
/// </summary>
public sealed record EventSpec(
    string Name,
    string UserId,
    string AnonymousId,
    string SessionId,
    string PropertiesJson,
    string ContextJson,
    ClientContext Context);

/// <summary>The context fields of one client: the same device sends them with every event.</summary>
public sealed record ClientContext(
    string AppVersion, string Os, string Device, string Locale, string Timezone, string Country, string Library, string Page, string UserAgent);

/// <summary>
/// Produces a realistic mix of product events from a fixed seed: page views dominate, purchases
/// are rare, a third of the traffic is anonymous, and web, iOS and Android clients carry their own
/// context. A fixed seed keeps runs comparable.
/// </summary>
public sealed class EventCatalog(int seed = 20261121)
{
    private static readonly (string Name, int Weight)[] Names =
    [
        ("page_view", 40), ("screen_view", 15), ("button_clicked", 15), ("feature_used", 10), ("search", 8),
        ("add_to_cart", 5), ("login", 3), ("checkout_started", 2), ("signup", 1), ("purchase", 1),
    ];

    private static readonly (string Locale, string Timezone, string Country)[] Places =
    [
        ("en-US", "America/New_York", "US"), ("en-US", "America/Los_Angeles", "US"), ("de-DE", "Europe/Berlin", "DE"),
        ("en-GB", "Europe/London", "GB"), ("fr-FR", "Europe/Paris", "FR"), ("ja-JP", "Asia/Tokyo", "JP"),
        ("pt-BR", "America/Sao_Paulo", "BR"), ("hi-IN", "Asia/Kolkata", "IN"), ("es-ES", "Europe/Madrid", "ES"),
    ];

    private static readonly string[] Pages = ["/", "/pricing", "/docs/getting-started", "/blog/release-notes", "/signup", "/app/dashboard", "/app/reports/funnels", "/app/settings/billing"];
    private static readonly string[] Screens = ["Home", "Search", "ProductDetail", "Cart", "Checkout", "Profile", "Settings"];
    private static readonly string[] Features = ["export_csv", "funnel_builder", "retention_chart", "dark_mode", "shared_dashboard", "alerts"];
    private static readonly string[] Plans = ["free", "starter", "pro", "enterprise"];
    private static readonly string[] Referrers = ["https://www.google.com/", "https://news.ycombinator.com/", "https://twitter.com/", "", "https://github.com/"];
    private static readonly string[] Queries = ["retention by country", "pricing", "export", "sso", "api keys", "funnel"];

    private readonly Random _random = new(seed);

    /// <summary>How many distinct users and devices the events come from.</summary>
    public int Users { get; init; } = 50_000;

    public EventSpec Next()
    {
        var user = _random.Next(Users);
        var client = Client(user);
        var anonymous = _random.Next(3) == 0;
        var name = PickName();
        return new EventSpec(
            name,
            anonymous ? "" : $"user-{user:D6}",
            anonymous ? $"anon-{Hex(unchecked((uint)user * 2654435761u))}" : "",
            $"sess-{user:D6}-{_random.Next(1, 40)}",
            Properties(name, client),
            ContextJson(client),
            client);
    }

    private string PickName()
    {
        var roll = _random.Next(Names.Sum(n => n.Weight));
        foreach (var (name, weight) in Names)
        {
            if ((roll -= weight) < 0)
            {
                return name;
            }
        }

        return Names[0].Name;
    }

    // A user's device is fixed by the user number, as it is in life.
    private ClientContext Client(int user)
    {
        var place = Places[user % Places.Length];
        var page = Pick(Pages);
        return (user % 10) switch
        {
            < 5 => new ClientContext("web-2026.11.3", user % 2 == 0 ? "Windows 11" : "macOS 14.6", "desktop", place.Locale, place.Timezone, place.Country,
                "analytics.js 5.2.1", page, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
            < 8 => new ClientContext(user % 3 == 0 ? "3.14.2" : "3.14.1", "iOS 18.1", user % 2 == 0 ? "iPhone16,2" : "iPhone15,3", place.Locale, place.Timezone, place.Country,
                "analytics-swift 1.6.1", Pick(Screens), "Shop/3.14.2 (iPhone; iOS 18.1; Scale/3.00) CFNetwork/1568.100.1 Darwin/24.0.0"),
            _ => new ClientContext("3.13.0", "Android 14", user % 2 == 0 ? "Pixel 8" : "SM-S921B", place.Locale, place.Timezone, place.Country,
                "analytics-kotlin 1.16.3", Pick(Screens), "okhttp/4.12.0"),
        };
    }

    private string Properties(string name, ClientContext client) => Json(w =>
    {
        switch (name)
        {
            case "page_view":
                w.WriteString("path", client.Page);
                w.WriteString("title", "Acme Analytics - " + client.Page.Trim('/'));
                w.WriteString("referrer", Pick(Referrers));
                w.WriteNumber("load_ms", _random.Next(80, 2400));
                break;
            case "screen_view":
                w.WriteString("screen", client.Page);
                w.WriteString("previous_screen", Pick(Screens));
                w.WriteNumber("load_ms", _random.Next(30, 900));
                break;
            case "button_clicked":
                w.WriteString("button_id", "cta-" + _random.Next(1, 30));
                w.WriteString("label", Pick(["Start free trial", "Add to cart", "Save", "Share", "Export"]));
                w.WriteNumber("position", _random.Next(1, 12));
                break;
            case "feature_used":
                w.WriteString("feature", Pick(Features));
                w.WriteString("plan", Pick(Plans));
                w.WriteNumber("uses_today", _random.Next(1, 50));
                w.WriteBoolean("first_time", _random.Next(10) == 0);
                break;
            case "search":
                w.WriteString("query", Pick(Queries));
                w.WriteNumber("results", _random.Next(0, 200));
                w.WriteBoolean("filters_applied", _random.Next(2) == 0);
                break;
            case "add_to_cart" or "checkout_started":
                w.WriteString("product_id", "sku-" + _random.Next(1000, 9999));
                w.WriteNumber("price", Math.Round(_random.NextDouble() * 200, 2));
                w.WriteString("currency", "EUR");
                w.WriteNumber("quantity", _random.Next(1, 4));
                break;
            case "purchase":
                w.WriteString("order_id", "ord-" + Hex((uint)_random.Next()));
                w.WriteNumber("revenue", Math.Round(_random.NextDouble() * 500, 2));
                w.WriteString("currency", "EUR");
                w.WriteNumber("items", _random.Next(1, 6));
                if (_random.Next(4) == 0)
                {
                    w.WriteString("coupon", "WINTER26");
                }
                else
                {
                    w.WriteNull("coupon");
                }

                break;
            default:
                w.WriteString("method", Pick(["password", "google", "github", "sso"]));
                w.WriteString("plan", Pick(Plans));
                w.WriteBoolean("remember_me", _random.Next(2) == 0);
                break;
        }
    });

    private static string ContextJson(ClientContext c) => Json(w =>
    {
        w.WriteString("app_version", c.AppVersion);
        w.WriteString("os", c.Os);
        w.WriteString("device", c.Device);
        w.WriteString("locale", c.Locale);
        w.WriteString("timezone", c.Timezone);
        w.WriteString("country", c.Country);
        w.WriteString("library", c.Library);
        w.WriteString("page", c.Page);
        w.WriteString("user_agent", c.UserAgent);
    });

    private static string Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private T Pick<T>(T[] values) => values[_random.Next(values.Length)];

    private static string Hex(uint value) => value.ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
}
