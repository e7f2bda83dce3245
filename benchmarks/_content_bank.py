"""A fixed bank of neutral content texts that the project wrote for `make bench-content` (no external data): news,
meeting notes, emails, tickets, reviews, documents, code, diffs, logs, build output and notes, each short (1-3 sentences)
and long (~150-300 words). Code kinds are fenced by the builder (:mod:`benchmarks._content_tasks`)."""

# ruff: noqa: E501 (one text a line)

KINDS: dict[str, dict[str, list[str]]] = {}

KINDS["news"] = {
    "short": [
        "The city council voted on Tuesday to expand the bike lane network by 40 miles over the next five years, citing a sharp rise in cycling commuters since 2020. Opponents argued the plan would worsen traffic for delivery vehicles.",
        "Regional rail operator NorthLink will add two late-night trains on weekends starting in March. The company said ridership after 10 p.m. has doubled since last spring.",
        "A drought in the river basin has cut hydroelectric output by nearly a third this summer. Utility officials say household prices will not rise before the end of the year.",
    ],
    "long": [
        "The state education board approved a new science curriculum on Thursday after eight months of public hearings, ending a debate that drew hundreds of parents and teachers to meetings across the state. The curriculum adds a required unit on data literacy in middle school and moves introductory chemistry from the tenth to the ninth grade. Board members said the changes respond to employers who reported that graduates struggled to read charts and basic statistics. Several teachers' unions supported the data unit but objected to the schedule, arguing that schools will need two years, not one, to train staff and buy lab equipment. The board agreed to a phased rollout: districts may delay the chemistry change until the 2027 school year if they submit a plan by June. Funding remains unresolved. The governor's budget includes 18 million dollars for teacher training, roughly half of what a state analysis estimated the full change would cost. Rural districts, which often share a single science teacher across several grades, asked for additional support and remote-teaching options. The board chair said a working group will report on rural needs in the fall. Textbook publishers have until January to submit materials for review, and the first approved list is expected next summer.",
        "Shares of the regional grocery chain Fairway Provisions rose 9 percent on Monday after the company reported quarterly profits well above analysts' forecasts. Revenue grew 6 percent to 2.1 billion dollars, driven by its private-label products and a loyalty program that now has 4 million members. The company also said it would close 12 underperforming stores in the Midwest and open 20 smaller-format stores in suburban areas over the next two years. Executives attributed the margin improvement to lower transport costs and fewer discarded fresh goods after a new ordering system was introduced in the spring. Labor groups criticized the closures, noting that about 900 workers would be affected; the company said most would be offered positions at nearby locations. Analysts cautioned that food inflation has slowed and that competition from discount chains remains intense. The company raised its full-year guidance and announced a modest increase to its dividend. Its chief executive said the chain would continue to invest in online ordering, which accounts for 11 percent of sales, up from 7 percent a year earlier. The next earnings report is scheduled for late January.",
    ],
}

KINDS["meeting"] = {
    "short": [
        "Alice presented Q3 numbers; revenue up 12%. Bob raised hiring concerns. Decision: freeze hiring until January.",
        "Attendees: Priya, Tom, Chen. Agreed to move the launch to May 14. Tom owns the pricing page; Chen will draft the FAQ by Friday.",
        "Weekly ops sync. The vendor contract renews in 30 days. Nobody objected to renewing, but Maria wants a quote from a second vendor first.",
    ],
    "long": [
        "Product sync, Wednesday 10:00. Present: Dana (PM), Luis (eng lead), Mei (design), Sam (support), Olga (marketing). 1. Release status: the mobile release is two days behind because the payment SDK update failed review on one Android device family. Luis expects a fix by Friday; the release moves to next Tuesday. 2. Support load: Sam reported a 30 percent increase in tickets about password resets since the login page change. Most users do not see the new 'use a code instead' link. Mei will make the link more prominent and test two variants. 3. Pricing page: Olga shared early results of the annual plan banner; conversion to annual rose from 18 to 22 percent, but refunds also rose slightly. The group agreed to keep the banner and review refunds again in a month. 4. Roadmap: Dana proposed pushing the team workspace feature to next quarter to focus on onboarding. Luis agreed; Olga was concerned about a partner who was promised the feature in the spring. Dana will call the partner this week. Decisions: release on Tuesday; keep annual banner; workspace moves to Q3 pending the partner call. Action items: Luis, SDK fix; Mei, login link variants; Dana, partner call; Sam, ticket tags for password issues.",
        "Board meeting minutes, March session. The chair opened the meeting at 6:05 p.m. with seven of nine members present, constituting a quorum. The minutes of the February meeting were approved without changes. Treasurer's report: operating reserves stand at 4.2 months of expenses, slightly above the policy minimum of four months. Membership dues revenue is 3 percent below budget, offset by higher event income. The treasurer recommended no change to the budget at this time. Facilities: the roof repair at the community hall was completed under budget, at 38,500 against an estimate of 42,000. The committee asked to use the remainder for accessibility improvements to the side entrance; the motion passed 6 to 1. Programs: the youth coding club has a waiting list of 40 children. The programs director proposed a second weekly session, which would require two additional volunteers and a small equipment purchase. The board asked for a cost estimate before the April meeting. New business: a member proposed moving meetings online during the summer. Discussion was mixed; the chair will survey members. The meeting adjourned at 7:40 p.m. The next meeting is scheduled for April 12.",
    ],
}

KINDS["email"] = {
    "short": [
        "Hi team, the quarterly review has moved to Thursday the 14th at 2pm in Room B. Please bring your updated project timelines. Thanks, Karen",
        "Hello, I was charged twice for my March subscription and I'd like one of the payments refunded. My account email is j.ortiz@example.com.",
        "Dear Mr. Hale, thank you for your application. We would like to invite you to a second interview on May 3 at 10:30 with Ms. Brandt and Mr. Osei.",
    ],
    "long": [
        "Subject: Follow-up on the warehouse inspection\n\nHi Jordan,\n\nThanks for walking us through the Eastside warehouse on Monday. I wanted to summarise what we saw and agree on next steps before the end of the month. Overall the site is in good condition, but three items came up. First, the sprinkler certification expired in February; the facilities vendor says they can re-certify on the 21st, and we need someone on site to let them in. Second, two of the loading dock doors do not close fully, which affects temperature control for the chilled section. Maintenance quoted 3,400 for new seals and motors, and the work would take one day. Third, the racking in aisle 7 is not bolted to the floor in several places; the inspector flagged this as a priority. We would like to schedule that repair before the holiday inventory arrives in early November. Could you confirm who will be the on-site contact for the sprinkler visit, and whether the dock repair can happen on a weekend to avoid disrupting shipments? I have attached the inspector's photos and the two quotes. Happy to set up a call on Thursday if that's easier.\n\nBest regards,\nNadia Rossi\nOperations Manager",
        "Subject: Order #48213 arrived damaged\n\nHello,\n\nI ordered a standing desk from your website on the 2nd and it was delivered yesterday. Unfortunately the box was crushed on one corner and the left leg frame is bent, so the desk wobbles badly even after assembly. I have taken photos of the box and the frame, which I can send if you tell me where. I really like the desk otherwise and would prefer a replacement frame rather than a full refund, if that's possible. I work from home and need the desk for my job, so I would appreciate a quick answer. The delivery driver left before I opened the box, so I could not note the damage on the delivery slip; I hope that is not a problem. I also noticed that the cable tray listed in the product description was not in the package. Could you check whether it ships separately? My phone number is 555-0142 and I am available during working hours. I have been a customer for several years and have always been happy with your service, so I hope we can sort this out quickly.\n\nKind regards,\nMarta Lindqvist",
    ],
}

KINDS["ticket"] = {
    "short": [
        "Steps: open Settings > Billing, click 'Download invoice'. Expected: PDF downloads. Actual: spinner forever, console shows 502 from /api/invoices/pdf. Happens on Firefox and Chrome since yesterday's release.",
        "Customer reports the export to CSV drops rows with accented names. Ticket #7731, priority not set, reported by the Lyon office.",
        "Incident 2024-118: checkout latency rose to 9s between 14:02 and 14:40 UTC. Root cause was a missing index after a schema migration; rolled back at 14:35.",
    ],
    "long": [
        "Incident report: partial outage of the notification service. Summary: between 09:12 and 10:47 UTC on Tuesday, about 35 percent of push notifications were not delivered. Email and SMS were unaffected. Timeline: at 09:05 a configuration change raised the connection pool size for the push gateway from 50 to 500. At 09:12 the upstream provider began rejecting connections because our account limit is 200 concurrent connections. Retries filled the queue and the oldest messages expired after 30 minutes. At 09:40 the on-call engineer saw the rising error rate, but the alert pointed to the provider's status page, which showed no problem. At 10:25 a second engineer noticed the recent configuration change in the deploy log. The change was reverted at 10:41 and delivery recovered by 10:47. Impact: roughly 210,000 notifications were lost, including two-factor codes for about 4,000 logins, which users had to request again. Contributing factors: the limit was not documented in our runbook; the config change was not reviewed because it was marked as low risk; the alert did not include recent deploys. Follow-ups: document provider limits; require review for pool size changes; add a deploy marker to the notification dashboards; evaluate a second provider for two-factor messages.",
        "Bug report #5120: Search results page freezes with long queries.\n\nEnvironment: web app version 3.8.2, Chrome 126 on Windows 11 and Safari 17 on macOS. Not reproduced on the mobile app.\n\nDescription: when a user types a query longer than about 120 characters in the search box, the results page stops responding for 10 to 20 seconds and sometimes shows the browser's 'page unresponsive' dialog. Shorter queries work normally. The problem started after release 3.8.0, which introduced highlighting of matched terms in result snippets.\n\nSteps to reproduce: 1. Sign in with any account. 2. Paste a long sentence, for example a full product description, into the search box. 3. Press Enter. 4. Observe that the page freezes while results render.\n\nExpected: results render within a second, as with short queries. Actual: the main thread is blocked; the performance profile shows most of the time in the snippet highlighting function, which appears to build one regular expression per query word and run each against every snippet.\n\nImpact: support has received 14 complaints this week, mostly from users who paste text from emails. Workaround: shorten the query. Reporter: QA team, assigned to the search squad, severity medium.",
    ],
}

KINDS["reviews"] = {
    "short": [
        '"Love the app but it logs me out every day." "Five stars, the new dark mode is great." "Crashes when I upload photos, please fix."',
        "Product review: The blender is powerful and easy to clean, but it is much louder than my old one and the lid cracked after two months.",
        "Post by user92: Has anyone managed to get the printer working over Wi-Fi on the new firmware? Mine only connects by USB now.",
    ],
    "long": [
        '1. "I have used this budgeting app for a year. Syncing with my bank is reliable and the monthly report is clear. The recent redesign moved the categories menu and it took me a while to find it." (4 stars)\n2. "After the last update the app crashes every time I open the savings tab. I reinstalled it twice. Support replied quickly but has not fixed it." (1 star)\n3. "Good value for the price. I wish I could share a budget with my partner without sharing my login." (4 stars)\n4. "The subscription went up by 30 percent with only a week\'s notice. The app is fine but not worth this much." (2 stars)\n5. "Excellent. The receipt scanning is accurate and saves me hours every month." (5 stars)\n6. "Notifications are far too frequent and I cannot turn off the daily tips without turning off bill reminders too." (3 stars)\n7. "Works well on my phone but the tablet layout is cramped and some buttons overlap." (3 stars)\n8. "I switched from a spreadsheet and I\'m not going back. Clear charts and helpful goals." (5 stars)',
        "Thread: Heat pump making a humming noise at night\n\nOriginal post: We installed an air-source heat pump in October. It works well, but since the weather turned cold it makes a low humming noise at night that we can hear in the bedroom. The installer says this is normal during defrost cycles. Is that true?\n\nReply 1: Ours does the same for a few minutes every hour or so when it's near freezing. It's the defrost cycle. If it's constant, it could be the fan or a loose panel.\n\nReply 2: Check whether the unit is on anti-vibration feet. Ours was mounted directly on a concrete slab and the hum carried through the wall. Rubber feet fixed most of it.\n\nReply 3: Some models have a quiet mode you can schedule at night. It reduces the fan speed, at a small cost in efficiency.\n\nReply 4: If the noise started suddenly, ask for a service visit. A failing fan bearing sounds similar at first.\n\nOriginal poster: Thanks all. There's no quiet mode on ours, but the installer agreed to fit anti-vibration feet next week. I'll report back.",
    ],
}

KINDS["items"] = {  # lists of short items: headlines, commit messages, tickets
    "short": [
        "1. You won't believe what this cat did next\n2. Central bank holds interest rates steady\n3. 10 foods doctors secretly never eat",
        "fix: handle empty cart in checkout\nfeat: add CSV export to reports\nchore: bump eslint to 9.2",
        "#412 Login button misaligned on iPad\n#413 Nightly backup job failed twice\n#414 Add dark mode to settings",
    ],
    "long": [
        "1. Local bakery wins national award for sourdough\n2. Scientists are stunned by this one weird trick for longer sleep\n3. Parliament passes revised data protection bill\n4. She quit her job to travel, and what happened next will amaze you\n5. Port strike enters second week as talks stall\n6. These 7 gadgets will change your life forever\n7. Quarterly unemployment figures show slight decline\n8. Why everyone is suddenly talking about this forgotten vegetable\n9. Storm warning issued for northern coastal areas\n10. Celebrity chef reveals the secret ingredient you've been missing\n11. City library extends weekend opening hours\n12. Doctors hate him: man loses weight without changing his diet\n13. New rail timetable adds express service between the two largest cities\n14. You'll never guess which country drinks the most tea\n15. Court rules on long-running dispute over river water rights\n16. Experts warn of rising costs for home insurance in flood zones",
        'feat(auth): support WebAuthn passkeys for sign-in\nfix(api): return 404 instead of 500 for unknown project ids\ndocs: document the new rate limit headers\nrefactor(billing): extract invoice numbering into its own module\ntest(search): add regression test for unicode queries\nchore(deps): update pydantic to 2.7\nfix(ui): prevent double submit on the signup form\nperf(db): add covering index for the orders-by-customer query\nci: cache node_modules between workflow runs\nfeat(export): allow choosing the CSV delimiter\nfix: correct timezone handling in the weekly digest\nstyle: apply the new formatter settings\nrevert: "feat(search): fuzzy matching on tags"\nbuild: produce arm64 images for the worker service\nfix(notifications): stop sending duplicate reminder emails\ndocs(readme): add troubleshooting section for proxies\nfeat(admin): bulk deactivate users from the members page\nfix(cache): invalidate profile cache after email change',
    ],
}

KINDS["bizdoc"] = {
    "short": [
        "INVOICE No. INV-2024-0917. Vendor: Brightline Office Supplies Ltd. Date: 12 Sept 2024. Amount due: EUR 1,284.50. Due date: 12 Oct 2024.",
        "Your parcel has shipped with NordExpress. Tracking number NX5583920174. Estimated delivery: Thursday, 18 July, between 9:00 and 13:00.",
        "Take amoxicillin 500 mg three times a day for seven days. Ibuprofen 400 mg may be taken every eight hours as needed for pain.",
    ],
    "long": [
        "FOR IMMEDIATE RELEASE\n\nGreenfield Robotics appoints new leadership team as it expands into Europe\n\nBOSTON, May 6 - Greenfield Robotics, a maker of autonomous machines for vegetable farms, today announced three senior appointments as it prepares to open a European headquarters in Rotterdam later this year. Dr. Amara Okafor joins as Chief Technology Officer from a major agricultural equipment manufacturer, where she led the precision-farming division for six years. Henrik Vos, previously head of sales for Northern Europe at a logistics software company, becomes Managing Director, Europe. Lucia Fernandez, who has been with Greenfield since its founding in 2019, is promoted from Head of Operations to Chief Operating Officer. 'These leaders bring exactly the experience we need for the next stage,' said co-founder and CEO Michael Tran. The company's weeding robots are used on more than 300 farms in the United States and Canada and reduce herbicide use by up to 90 percent, according to company trials. Greenfield raised 45 million dollars in a Series B round in February, led by Harvest Ventures. The Rotterdam office will initially employ 25 people in sales, service and field engineering. Media contact: Jenna Park, press@greenfieldrobotics.example, +1 617 555 0199.",
        "SERVICE AGREEMENT (excerpt)\n\n1. Term. This Agreement begins on 1 January 2025 (the 'Effective Date') and continues for an initial term of twenty-four (24) months. Thereafter it renews automatically for successive twelve (12) month periods unless either party gives written notice of non-renewal at least ninety (90) days before the end of the then-current term.\n\n2. Fees. The Customer shall pay a monthly fee of EUR 4,500, invoiced in advance on the first business day of each month. Invoices are payable within thirty (30) days. Late payments bear interest at 1 percent per month. The Provider may increase fees once per renewal term by no more than 5 percent, with sixty (60) days' written notice.\n\n3. Service Levels. The Provider shall make the Service available 99.9 percent of each calendar month, excluding scheduled maintenance announced at least 48 hours in advance. If availability falls below this level, the Customer is entitled to a service credit of 10 percent of that month's fee for each full 0.5 percent shortfall, up to 50 percent.\n\n4. Termination. Either party may terminate this Agreement for material breach if the breach is not cured within thirty (30) days after written notice. On termination, the Provider shall return or delete Customer Data within sixty (60) days.",
    ],
}

KINDS["python"] = {
    "short": [
        "def load_settings(path):\n    with open(path) as f:\n        data = json.load(f)\n    return Settings(host=data['host'], proxy=data['proxy'])",
        "def slugify(text):\n    text = re.sub(r'[^a-z0-9]+', '-', text.lower())\n    return text.strip('-')",
        "def paginate(items, page, size):\n    start = page * size\n    return items[start:start + size + 1]",
    ],
    "long": [
        "import logging\nfrom dataclasses import dataclass\nfrom decimal import Decimal\n\nlog = logging.getLogger(__name__)\n\n\n@dataclass\nclass LineItem:\n    sku: str\n    quantity: int\n    unit_price: Decimal\n\n\nclass CheckoutError(Exception):\n    pass\n\n\ndef checkout(cart, customer, gateway, inventory):\n    if not cart.items:\n        raise CheckoutError('cart is empty')\n    total = Decimal('0')\n    for item in cart.items:\n        if inventory.available(item.sku) < item.quantity:\n            raise CheckoutError(f'not enough stock for {item.sku}')\n        total += item.unit_price * item.quantity\n    if customer.discount_code:\n        discount = calculate_discount(customer.discount_code, total)\n        total -= discount\n    for item in cart.items:\n        inventory.reserve(item.sku, item.quantity)\n    try:\n        charge = gateway.charge(customer.payment_method, total)\n    except gateway.Declined as exc:\n        for item in cart.items:\n            inventory.release(item.sku, item.quantity)\n        log.warning('payment declined for %s: %s', customer.id, exc)\n        raise CheckoutError('payment declined') from exc\n    order = Order.create(customer=customer, items=cart.items, total=total, charge_id=charge.id)\n    cart.clear()\n    return order\n\n\ndef calculate_discount(code, total):\n    if code == 'WELCOME10':\n        return total * Decimal('0.10')\n    elif code == 'SUMMER':\n        if total > 100:\n            return Decimal('15')\n        else:\n            return Decimal('5')\n    elif code.startswith('VIP'):\n        return total * Decimal('0.20')\n    else:\n        return Decimal('0')",
        "import time\nimport redis\n\n_client = redis.Redis(host='localhost', port=6379)\n\n\nclass ProfileService:\n    def __init__(self, db, clock=time.time):\n        self.db = db\n        self.clock = clock\n        self._sessions = {}\n\n    def get_user_profile(self, user_id):\n        row = self.db.execute(\n            'SELECT id, name, email, plan, created_at FROM users WHERE id = %s', (user_id,)\n        ).fetchone()\n        if row is None:\n            return None\n        return {\n            'id': row[0],\n            'name': row[1],\n            'email': row[2],\n            'plan': row[3],\n            'created_at': row[4].isoformat(),\n        }\n\n    def update_email(self, user_id, email):\n        self.db.execute('UPDATE users SET email = %s WHERE id = %s', (email, user_id))\n        self.db.commit()\n\n    def start_session(self, user_id, token=None):\n        token = token or request.args.get('session')\n        self._sessions[token] = (user_id, self.clock())\n        return token\n\n    def session_user(self, token):\n        entry = self._sessions.get(token)\n        if entry is None:\n            return None\n        user_id, started = entry\n        if self.clock() - started > 3600:\n            del self._sessions[token]\n            return None\n        return user_id\n\n    def notify(self, user_id, message):\n        profile = self.get_user_profile(user_id)\n        _client.lpush('notifications', f\"{profile['email']}|{message}\")",
    ],
}

KINDS["js"] = {
    "short": [
        "export function formatCurrency(amount, currency = 'USD') {\n  return new Intl.NumberFormat('en-US', { style: 'currency', currency }).format(amount);\n}",
        "function deepClone(obj) {\n  return JSON.parse(JSON.stringify(obj));\n}",
        "app.get('/comments', (req, res) => {\n  db.query(`SELECT * FROM comments WHERE post_id = ${req.query.post}`).then(rows => res.json(rows));\n});",
    ],
    "long": [
        "const express = require('express');\nconst { Pool } = require('pg');\n\nconst pool = new Pool();\nconst router = express.Router();\n\nasync function listOrders(req, res) {\n  const page = parseInt(req.query.page || '1', 10);\n  const size = Math.min(parseInt(req.query.size || '20', 10), 100);\n  const offset = (page - 1) * size;\n  const { rows } = await pool.query(\n    'SELECT id, customer_id, total, status, created_at FROM orders ORDER BY created_at DESC LIMIT $1 OFFSET $2',\n    [size, offset]\n  );\n  const { rows: countRows } = await pool.query('SELECT count(*) FROM orders');\n  res.json({\n    items: rows,\n    page,\n    size,\n    total: Number(countRows[0].count),\n    pages: Math.ceil(Number(countRows[0].count) / size),\n  });\n}\n\nasync function updateStatus(req, res) {\n  const { id } = req.params;\n  const { status } = req.body;\n  if (!['pending', 'shipped', 'cancelled'].includes(status)) {\n    return res.status(400).json({ error: 'invalid status' });\n  }\n  const client = await pool.connect();\n  await client.query('BEGIN');\n  await client.query('UPDATE orders SET status = $1 WHERE id = $2', [status, id]);\n  await client.query('INSERT INTO order_events (order_id, status) VALUES ($1, $2)', [id, status]);\n  await client.query('COMMIT');\n  res.json({ id, status });\n}\n\nrouter.get('/orders', listOrders);\nrouter.patch('/orders/:id', updateStatus);\n\nmodule.exports = router;",
        "import { useEffect, useState } from 'react';\n\nexport function useSearch(query, { delay = 300 } = {}) {\n  const [results, setResults] = useState([]);\n  const [loading, setLoading] = useState(false);\n  const [error, setError] = useState(null);\n\n  useEffect(() => {\n    if (!query) {\n      setResults([]);\n      return;\n    }\n    setLoading(true);\n    const timer = setTimeout(async () => {\n      try {\n        const response = await fetch(`/api/search?q=${encodeURIComponent(query)}`);\n        if (!response.ok) {\n          throw new Error(`search failed: ${response.status}`);\n        }\n        const body = await response.json();\n        setResults(body.items);\n        setError(null);\n      } catch (err) {\n        setError(err);\n      } finally {\n        setLoading(false);\n      }\n    }, delay);\n    return () => clearTimeout(timer);\n  }, [query]);\n\n  return { results, loading, error };\n}\n\nexport function highlight(snippet, query) {\n  let html = snippet;\n  for (const word of query.split(/\\s+/)) {\n    const pattern = new RegExp(`(${word})`, 'gi');\n    html = html.replace(pattern, '<mark>$1</mark>');\n  }\n  return html;\n}",
    ],
}

KINDS["othercode"] = {
    "short": [
        'type User struct {\n    UserID    int    `json:"UserID"`\n    FirstName string `json:"FirstName"`\n    CreatedAt time.Time `json:"CreatedAt"`\n}',
        "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL, total numeric(10,2), created_at timestamptz DEFAULT now());",
        '#!/bin/sh\nfor f in /var/log/app/*.log; do\n  cp "$f" /backup/\ndone',
    ],
    "long": [
        'package validate\n\nimport (\n    "errors"\n    "net/mail"\n    "strings"\n)\n\nvar (\n    ErrEmpty      = errors.New("email is empty")\n    ErrTooLong    = errors.New("email is too long")\n    ErrNoDomain   = errors.New("email has no domain")\n    ErrDisposable = errors.New("disposable email addresses are not allowed")\n)\n\nvar disposableDomains = map[string]bool{\n    "mailinator.com": true,\n    "tempmail.net":   true,\n}\n\n// ValidateEmail checks an address for sign-up.\nfunc ValidateEmail(address string) (string, error) {\n    address = strings.TrimSpace(address)\n    if address == "" {\n        return "", ErrEmpty\n    }\n    if len(address) > 254 {\n        return "", ErrTooLong\n    }\n    parsed, err := mail.ParseAddress(address)\n    if err != nil {\n        return "", err\n    }\n    at := strings.LastIndex(parsed.Address, "@")\n    if at < 0 || at == len(parsed.Address)-1 {\n        return "", ErrNoDomain\n    }\n    domain := strings.ToLower(parsed.Address[at+1:])\n    if disposableDomains[domain] {\n        return "", ErrDisposable\n    }\n    return strings.ToLower(parsed.Address), nil\n}',
        'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  replicas: {{ .Values.replicas | default 1 }}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default "latest" }}"\n          ports:\n            - containerPort: 8080\n          securityContext:\n            privileged: true\n            runAsUser: 0\n          env:\n            - name: DATABASE_URL\n              value: {{ .Values.databaseUrl | quote }}\n            - name: ADMIN_PASSWORD\n              value: "admin123"\n          resources: {}\n      hostNetwork: true\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  type: LoadBalancer\n  ports:\n    - port: 80\n      targetPort: 8080\n  selector:\n    app: web',
    ],
}

KINDS["diff"] = {
    "short": [
        "--- a/api/reset.py\n+++ b/api/reset.py\n@@ -12,3 +12,4 @@\n-    token = secrets.token_hex(16)\n+    token = str(user.id) + str(int(time.time()))\n+    send_reset_email(user.email, token)",
        "app/models/invoice.rb\napp/services/invoice_mailer.rb\napp/serializers/invoice_serializer.rb\napp/views/admin/invoices/index.html.erb",
        "- ALTER TABLE orders ADD COLUMN region text;\n+ ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';\n+ CREATE INDEX orders_region_idx ON orders (region);",
    ],
    "long": [
        "diff --git a/src/worker/retry.py b/src/worker/retry.py\nindex 3c1a2f0..8be77d1 100644\n--- a/src/worker/retry.py\n+++ b/src/worker/retry.py\n@@ -1,30 +1,41 @@\n import threading\n import time\n \n-_lock = threading.Lock()\n+_jobs_lock = threading.Lock()\n+_stats_lock = threading.Lock()\n _pending = {}\n+_stats = {'retried': 0, 'failed': 0}\n \n \n def schedule(job, delay):\n-    with _lock:\n+    with _jobs_lock:\n         _pending[job.id] = (job, time.time() + delay)\n \n \n def run_due():\n-    with _lock:\n+    with _jobs_lock:\n         due = [job for job, at in _pending.values() if at <= time.time()]\n-    for job in due:\n-        job.run()\n+        for job in due:\n+            try:\n+                job.run()\n+            except Exception:\n+                record('failed')\n+                schedule(job, 30)\n+            else:\n+                del _pending[job.id]\n \n \n+def record(kind):\n+    with _stats_lock:\n+        _stats[kind] += 1\n+        with _jobs_lock:\n+            _stats['pending'] = len(_pending)\n+\n+\n def charge_with_retry(gateway, payment):\n-    return gateway.charge(payment)\n+    for attempt in range(3):\n+        try:\n+            return gateway.charge(payment)\n+        except TimeoutError:\n+            record('retried')\n+            time.sleep(2 ** attempt)\n+    raise TimeoutError('gateway timed out three times')",
        "Merged pull requests since v4.2.0:\n#881 Add bulk export of projects to CSV and JSON (@mlopez)\n#884 Fix crash when a workspace has no owner (@tkato)\n#887 Drop support for Python 3.8 (@ade)\n#889 New keyboard shortcuts for navigating the board view (@sfischer)\n#890 Speed up the activity feed by paginating on the server (@ade)\n#893 Rename 'archive' to 'close' in the project menu (@mlopez)\n#895 Fix timezone bug in due-date reminders (@rbianchi)\n#896 Add Spanish and Portuguese translations (@community)\n#899 Upgrade the rich text editor; pasted tables now keep their formatting (@sfischer)\n#901 Deprecate the v1 webhooks endpoint, to be removed in 5.0 (@tkato)\n#902 Show storage usage per workspace in the admin panel (@rbianchi)\n#904 Fix broken avatar images for users with SSO accounts (@ade)\n#905 Allow guests to comment on tasks they can view (@mlopez)\n#907 Security: require re-authentication before changing the account email (@tkato)\n#910 Internal: move CI to the new runners and cache dependencies (@ade)\n#911 Fix off-by-one in the calendar view for months starting on Sunday (@sfischer)",
    ],
}

KINDS["logs"] = {
    "short": [
        "2024-05-02T03:14:07Z ERROR worker-3 java.lang.OutOfMemoryError: Java heap space\n2024-05-02T03:14:09Z WARN supervisor restarting worker-3 (exit 137)",
        '10.0.4.21 - - [12/Mar/2024:10:02:11 +0000] "GET /api/orders HTTP/1.1" 200 1532 0.084\n10.0.4.37 - - [12/Mar/2024:10:02:12 +0000] "POST /api/login HTTP/1.1" 401 88 0.012',
        "kernel: [88213.11] EXT4-fs warning (device sda1): ext4_dx_add_entry: Directory index full!\nsystemd[1]: logrotate.service: Failed with result 'exit-code'.",
    ],
    "long": [
        "2024-06-11 08:00:01,102 INFO  [main] Starting order-service v2.14.3 (pid 4121)\n2024-06-11 08:00:03,870 INFO  [main] Connected to postgres at db-primary:5432 (pool size 20)\n2024-06-11 08:00:04,015 INFO  [main] Listening on :8080\n2024-06-11 09:12:44,503 WARN  [http-7] Slow query (1843 ms): SELECT * FROM orders WHERE customer_id = ?\n2024-06-11 09:15:02,118 INFO  [scheduler] Nightly reconciliation skipped: lock held by another instance\n2024-06-11 10:41:19,774 WARN  [http-12] Connection pool usage at 90% (18/20)\n2024-06-11 10:41:21,006 ERROR [http-3] Timeout acquiring connection after 5000 ms\n2024-06-11 10:41:21,007 ERROR [http-3] GET /orders/88123 failed: 503 Service Unavailable\n2024-06-11 10:41:22,540 ERROR [http-9] Timeout acquiring connection after 5000 ms\n2024-06-11 10:41:25,112 WARN  [gc] GC pause 1.9 s (old gen 94% full)\n2024-06-11 10:41:31,880 ERROR [http-15] GET /orders?page=2 failed: 503 Service Unavailable\n2024-06-11 10:42:02,451 WARN  [gc] GC pause 3.4 s (old gen 98% full)\n2024-06-11 10:42:09,019 ERROR [main] java.lang.OutOfMemoryError: Java heap space\n2024-06-11 10:42:09,020 ERROR [main]   at com.shop.orders.ReportBuilder.collect(ReportBuilder.java:118)\n2024-06-11 10:42:09,021 ERROR [main]   at com.shop.orders.ReportJob.run(ReportJob.java:54)\n2024-06-11 10:42:10,500 INFO  [main] Shutting down (signal 9)\n2024-06-11 10:42:14,882 INFO  [main] Starting order-service v2.14.3 (pid 4377)\n2024-06-11 10:42:17,604 INFO  [main] Connected to postgres at db-primary:5432 (pool size 20)",
        'Mar 12 10:02:11 web-01 nginx: 10.0.4.21 "GET /api/orders?page=3 HTTP/1.1" 200 1532 rt=0.084\nMar 12 10:02:12 web-01 nginx: 10.0.4.37 "POST /api/login HTTP/1.1" 401 88 rt=0.012\nMar 12 10:02:12 web-02 nginx: 10.0.4.40 "GET /static/app.js HTTP/1.1" 304 0 rt=0.001\nMar 12 10:02:13 web-01 nginx: 10.0.4.21 "GET /api/orders/5521 HTTP/1.1" 200 611 rt=0.045\nMar 12 10:02:15 web-02 nginx: 10.0.4.52 "GET /api/reports/monthly HTTP/1.1" 504 160 rt=30.001\nMar 12 10:02:16 web-01 nginx: 10.0.4.37 "POST /api/login HTTP/1.1" 200 412 rt=0.231\nMar 12 10:02:18 web-02 nginx: 10.0.4.61 "PUT /api/profile HTTP/1.1" 200 298 rt=0.067\nMar 12 10:02:19 web-01 nginx: 10.0.4.21 "DELETE /api/cart/items/9 HTTP/1.1" 204 0 rt=0.019\nMar 12 10:02:21 web-02 nginx: 10.0.4.52 "GET /api/reports/monthly HTTP/1.1" 504 160 rt=30.000\nMar 12 10:02:22 web-01 nginx: 10.0.4.77 "GET /api/search?q=lamp HTTP/1.1" 200 4410 rt=0.388\nMar 12 10:02:24 web-02 nginx: 10.0.4.40 "GET /api/notifications HTTP/1.1" 200 97 rt=0.022\nMar 12 10:02:25 web-01 nginx: 10.0.4.90 "POST /api/orders HTTP/1.1" 201 733 rt=0.512\nMar 12 10:02:27 web-02 nginx: 10.0.4.52 "GET /api/reports/monthly HTTP/1.1" 502 157 rt=0.004',
    ],
}

KINDS["build"] = {
    "short": [
        "FAIL src/cart.test.js\n  ● applies discount › expected 90, received 100\nTests: 1 failed, 41 passed, 42 total",
        "> Task :app:compileKotlin FAILED\ne: /app/src/main/kotlin/Repo.kt: (42, 17): Unresolved reference: fetchAll\nBUILD FAILED in 14s",
        "$ df -h /var\nFilesystem  Size  Used Avail Use% Mounted on\n/dev/sda2    50G   49G  1.0G  98% /var",
    ],
    "long": [
        "$ npm test\n\n> shop-web@3.2.0 test\n> jest --ci\n\nPASS src/utils/format.test.js\nPASS src/components/Header.test.jsx\nFAIL src/cart/cart.test.js\n  ● Cart › applies percentage discount\n\n    expect(received).toBe(expected) // Object.is equality\n\n    Expected: 90\n    Received: 100\n\n      41 |     cart.applyCode('WELCOME10');\n      42 |     expect(cart.total()).toBe(90);\n         |                          ^\n\n  ● Cart › removes item when quantity is zero\n\n    TypeError: Cannot read properties of undefined (reading 'sku')\n\n      at Cart.setQuantity (src/cart/cart.js:57:23)\n\nFAIL src/api/orders.test.js\n  ● orders API › retries on 503\n\n    thrown: \"Exceeded timeout of 5000 ms for a test.\"\n\nPASS src/components/Footer.test.jsx\nPASS src/hooks/useSearch.test.js\n\nTest Suites: 2 failed, 4 passed, 6 total\nTests:       3 failed, 58 passed, 61 total\nSnapshots:   0 total\nTime:        12.84 s\nRan all test suites.\nnpm ERR! Test failed.  See above for more details.",
        "Step 7/12 : RUN pip install -r requirements.txt\n ---> Running in 5a1c0e2f9b3d\nCollecting psycopg2==2.9.9\n  Downloading psycopg2-2.9.9.tar.gz (384 kB)\n  Preparing metadata (setup.py): started\n  Preparing metadata (setup.py): finished with status 'error'\n  error: subprocess-exited-with-error\n\n  × python setup.py egg_info did not run successfully.\n  │ exit code: 1\n  ╰─> [23 lines of output]\n      running egg_info\n      Error: pg_config executable not found.\n\n      pg_config is required to build psycopg2 from source.  Please add the directory\n      containing pg_config to the $PATH or specify the full executable path with the\n      option:\n\n          python setup.py build_ext --pg-config /path/to/pg_config build ...\n\n      If you prefer to avoid building psycopg2 from source, please install the PyPI\n      'psycopg2-binary' package instead.\n      [end of output]\n\n  note: This error originates from a subprocess, and is likely not a problem with pip.\nerror: metadata-generation-failed\n\n× Encountered error while generating package metadata.\n╰─> See above for output.\n\nThe command '/bin/sh -c pip install -r requirements.txt' returned a non-zero code: 1\nmake: *** [Makefile:14: image] Error 1",
    ],
}

KINDS["longdoc"] = {
    "short": [
        "Section 7.2 (Financial Covenants). The Borrower shall maintain a Leverage Ratio of not more than 3.50 to 1.00 as of the last day of each fiscal quarter.",
        "Chapter 4. To restore factory settings, hold the power and volume-down buttons for ten seconds until the status light blinks amber. All saved profiles will be erased.",
        "Abstract. We find that remote work increased self-reported productivity by 4 percent in a sample of 1,200 firms, in contrast with earlier studies reporting declines.",
    ],
    "long": [
        "ARTICLE VI - COVENANTS OF THE BORROWER\n\n6.1 Financial Statements. The Borrower shall deliver to the Agent (a) within ninety (90) days after the end of each fiscal year, audited consolidated financial statements, and (b) within forty-five (45) days after the end of each of the first three fiscal quarters, unaudited consolidated financial statements, in each case certified by a Responsible Officer.\n\n6.2 Leverage Ratio. The Borrower shall not permit the Consolidated Leverage Ratio, as of the last day of any fiscal quarter, to exceed 3.50 to 1.00; provided that, following a Permitted Acquisition with consideration in excess of 50,000,000, such ratio may be increased to 4.00 to 1.00 for the four fiscal quarters ending after such acquisition.\n\n6.3 Interest Coverage. The Borrower shall maintain a Consolidated Interest Coverage Ratio of not less than 3.00 to 1.00.\n\n6.4 Limitation on Liens. The Borrower shall not create, incur or suffer to exist any Lien on any of its property, except Permitted Liens.\n\n6.5 Insurance. The Borrower shall maintain insurance with financially sound and reputable insurers in such amounts and against such risks as are customarily maintained by companies engaged in similar businesses.\n\n6.6 Notices. The Borrower shall promptly notify the Agent of any Default or Event of Default, any litigation that could reasonably be expected to have a Material Adverse Effect, and any change in its Responsible Officers.",
        "4. MAINTENANCE AND TROUBLESHOOTING\n\n4.1 Cleaning. Disconnect the unit from power before cleaning. Wipe the housing with a dry, lint-free cloth. Do not use solvents, as they may damage the display coating. The air intake filter should be removed and rinsed under running water every three months, then dried completely before reinstalling.\n\n4.2 Firmware updates. The device checks for updates every 24 hours when connected to a network. Updates install automatically between 02:00 and 04:00 local time. During an update the status light pulses blue; do not disconnect power. If an update fails three times, the device reverts to the previous version and shows error code E-41.\n\n4.3 Error codes. E-12: sensor not detected; reseat the sensor cable. E-23: temperature out of range; move the unit away from heat sources. E-35: network authentication failed; re-enter the network password in the companion app. E-41: firmware update failed; see 4.2.\n\n4.4 Factory reset. A factory reset erases all user profiles, schedules and network settings. Press and hold the power and volume-down buttons together for ten seconds until the status light blinks amber, then release. The device restarts in setup mode within two minutes.\n\n4.5 Warranty service. If the problem persists, contact support with the serial number printed on the base of the unit.",
    ],
}

KINDS["personal"] = {
    "short": [
        "The heater in my bedroom stopped working last Friday. I told the building manager on Monday but nothing has happened yet, and it's getting down to 5 degrees at night.",
        "Some context: I've been in this role for two years, I'm now covering for two colleagues on leave, and I've worked most weekends this month.",
        "My mom likes gardening, old films and trying new recipes. Budget is around 60 dollars and her birthday is next Saturday.",
    ],
    "long": [
        "Here's my situation. I moved into this flat in September and the lease says the landlord is responsible for heating and hot water. Three weeks ago the radiator in the living room started making a banging noise and then stopped heating altogether. I reported it through the tenant portal the same day and got an automatic reply saying someone would be in touch within 48 hours. Nobody came. I called the agency the following week and they said a plumber was booked, but the plumber never showed up and didn't call. Since then I've been using a small electric heater, which has noticeably increased my electricity bill. I work from home three days a week, so it's not just a matter of the evenings. I don't want to start a fight, because otherwise the landlord has been fine and I'd like to renew the lease next year. But I do want this fixed before it gets colder, and I think it's fair to ask for some of the extra electricity cost to be covered. I have photos of the radiator, the portal confirmation and a note of the dates I called. I'd like to sound firm but polite, and mention that I know my rights without threatening anything.",
        "A bit of background for you. I've been at the company for about three years, first as a junior analyst and now as the only analyst on the marketing team. Until this spring there were two of us, but my colleague left in April and the position hasn't been refilled. Since then I've taken over all the weekly reports, the campaign dashboards and the ad-hoc requests from sales, which used to be split. My manager is supportive in general and has said several times that she values my work, but she is very busy herself and I don't think she realises how much extra there is now. I've been working late most evenings and checking messages on weekends. I'm starting to make small mistakes, which worries me, and I've had trouble sleeping. I don't want to come across as complaining or as if I can't handle the job, because I'd like to be considered for a promotion next year. What I'd really like is for the open position to be filled or for some of the ad-hoc requests to go through a queue with priorities. We have a one-to-one meeting on Thursday.",
    ],
}

# Which kinds fit an instruction: the route's keyword overrides first (whole words in the instruction, lower case,
# plural allowed), else the route's default pool.
ROUTE_KEYWORDS: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "code_change": [(("sql", "go", "shell", "cron"), "othercode"), (("javascript",), "js"), (("python",), "python")],
    "test_generation": [
        (("jest", "formatcurrency"), "js"),
        (("go", "kotlin"), "othercode"),
        (("pytest", "hypothesis", "python"), "python"),
    ],
    "documentation": [(("pr", "changelog", "upgrade guide"), "diff"), (("c header",), "othercode")],
    "code_review": [(("pr", "diff", "pull request", "database changes"), "diff"), (("helm chart",), "othercode")],
    "agentic_terminal": [(("log", "ooming", "memory"), "logs")],
    "long_context": [
        (("source", "repository", "repo", "file"), "python"),
        (("log",), "logs"),
        (("minutes",), "meeting"),
    ],
    "summarization": [
        (("article", "news"), "news"),
        (("meeting", "transcript"), "meeting"),
        (("release",), "diff"),
        (("review", "thread"), "reviews"),
        (("bug report", "rfc", "memo", "incident report"), "ticket"),
    ],
    "classification": [
        (("headline", "commit message", "issue", "ticket"), "items"),
        (("email",), "email"),
        (("review", "forum post", "comment"), "reviews"),
    ],
    "extraction": [(("log line",), "logs"), (("email",), "email")],
    "general": [(("landlord", "boss", "out-of-office"), "personal")],
}
ROUTE_KINDS: dict[str, list[str]] = {
    "multi_file_change": ["python", "js", "diff"],
    "code_change": ["python", "js"],
    "test_generation": ["python", "js"],
    "documentation": ["python", "js"],
    "code_review": ["python", "js", "diff"],
    "agentic_terminal": ["build"],
    "long_context": ["longdoc"],
    "summarization": ["ticket", "email"],
    "classification": ["ticket"],
    "extraction": ["bizdoc"],
    "general": ["personal", "email"],
    "oos": ["news", "personal", "email", "meeting"],
}
CODE_KINDS = {"python": "python", "js": "javascript", "othercode": "", "diff": "diff"}
