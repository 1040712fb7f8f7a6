"""Which installed package does the model mean by "Settings", "设置", "wechat" or "calc"?

Resolution order (:func:`resolve_app`):

1. an exact installed package name (``com.android.settings``) or component (``pkg/.Activity``);
2. the registry below: human names in English and Chinese -> candidate packages across vendors
   (AOSP, Google, Samsung, Xiaomi, Huawei/Honor, OPPO/OnePlus/realme, vivo) and popular apps in
   China and elsewhere; the first candidate that is installed wins;
3. the device's own launcher entries, matched by label where the device gives labels, by the
   registry names of installed packages, and fuzzily (difflib) by package-name tokens.

Ambiguous or unmatched names raise ``AppNotFoundError`` naming the closest candidates. This module
does no I/O: ``AdbDevice`` feeds it the package list and launcher activities.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from autoglm_agent.device.base import AppNotFoundError


@dataclass(frozen=True)
class AppEntry:
    """One app as people call it: display name, other names (any language), candidate packages."""

    name: str
    aliases: tuple[str, ...]
    packages: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def _e(name: str, aliases: str, packages: str) -> AppEntry:
    """Compact constructor: aliases separated by ``|``, packages by spaces."""
    return AppEntry(
        name,
        tuple(a.strip() for a in aliases.split("|") if a.strip()),
        tuple(packages.split()),
    )


# fmt: off
#: Human names -> candidate packages, most common first. Names are matched after
#: :func:`normalize_name` (case, width, spaces and punctuation ignored), so "Google Maps",
#: "google maps" and "googlemaps" are one name. Each normalized name appears once.
REGISTRY: tuple[AppEntry, ...] = (
    # ---------------------------------------------------------------- system apps
    _e("Settings", "设置|系统设置|設定|setting|system settings|settings app",
       "com.android.settings com.android.tv.settings"),
    _e("Clock", "时钟|闹钟|時鐘|alarm|alarm clock|alarms|deskclock|timer|stopwatch|计时器|秒表",
       "com.google.android.deskclock com.android.deskclock com.sec.android.app.clockpackage "
       "com.coloros.alarmclock com.oneplus.deskclock com.android.BBKClock com.huawei.deskclock "
       "com.hihonor.deskclock"),
    _e("Camera", "相机|照相机|拍照|相機|cam",
       "com.android.camera com.android.camera2 com.google.android.GoogleCamera "
       "com.sec.android.app.camera com.huawei.camera com.hihonor.camera com.oplus.camera "
       "com.oppo.camera com.oneplus.camera com.android.camera3"),
    _e("Calculator", "计算器|計算機|calc|calculater",
       "com.google.android.calculator com.android.calculator2 com.miui.calculator "
       "com.sec.android.app.popupcalculator com.coloros.calculator com.oneplus.calculator "
       "com.huawei.calculator com.hihonor.calculator com.android.bbkcalculator"),
    _e("Phone", "电话|拨号|拨号盘|dialer|call|phone app|電話",
       "com.google.android.dialer com.android.dialer com.samsung.android.dialer "
       "com.android.contacts com.huawei.contacts com.hihonor.contacts com.android.incallui"),
    _e("Contacts", "联系人|通讯录|聯絡人|people|address book",
       "com.google.android.contacts com.android.contacts com.samsung.android.app.contacts "
       "com.huawei.contacts com.hihonor.contacts"),
    _e("Messages", "短信|信息|消息|简讯|sms|mms|messaging|text messages|簡訊",
       "com.google.android.apps.messaging com.android.mms com.samsung.android.messaging "
       "com.android.messaging com.huawei.message com.hihonor.mms"),
    _e("Gallery", "相册|图库|相冊|圖庫|album|photos gallery",
       "com.miui.gallery com.android.gallery3d com.sec.android.gallery3d com.huawei.photos "
       "com.hihonor.photos com.coloros.gallery3d com.oplus.gallery com.vivo.gallery "
       "com.google.android.apps.photos"),
    _e("Google Photos", "photos|谷歌相册|google 相册",
       "com.google.android.apps.photos"),
    _e("Calendar", "日历|行事历|日曆|行事曆|schedule",
       "com.google.android.calendar com.android.calendar com.samsung.android.calendar "
       "com.huawei.calendar com.hihonor.calendar com.coloros.calendar com.bbk.calendar"),
    _e("Files", "文件|文件管理|文件管理器|我的文件|file manager|my files|file explorer|documents|档案",
       "com.google.android.apps.nbu.files com.android.fileexplorer com.sec.android.app.myfiles "
       "com.huawei.filemanager com.hihonor.filemanager com.coloros.filemanager "
       "com.android.filemanager com.google.android.documentsui com.android.documentsui"),
    _e("Notes", "笔记|便签|备忘录|記事本|备忘|memo|samsung notes|notepad",
       "com.miui.notes com.samsung.android.app.notes com.example.android.notepad "
       "com.hihonor.notepad com.coloros.note com.android.notes com.google.android.keep"),
    _e("Google Keep", "keep notes|google notes", "com.google.android.keep"),
    _e("Weather", "天气|天氣",
       "com.google.android.apps.weather com.miui.weather2 com.sec.android.daemonapp "
       "com.huawei.android.totemweather com.hihonor.android.totemweather com.coloros.weather2 "
       "com.oplus.weather2 com.vivo.weather"),
    _e("Recorder", "录音|录音机|錄音|voice recorder|sound recorder|recorder app",
       "com.google.android.apps.recorder com.android.soundrecorder com.sec.android.app.voicenote "
       "com.huawei.soundrecorder com.coloros.soundrecorder com.miui.soundrecorder"),
    _e("Music", "音乐|音樂|music player|播放器",
       "com.miui.player com.android.music com.sec.android.app.music com.huawei.music "
       "com.hihonor.music com.heytap.music com.google.android.apps.youtube.music"),
    _e("Browser", "浏览器|瀏覽器|web browser|internet",
       "com.android.browser com.sec.android.app.sbrowser com.huawei.browser com.hihonor.baidu.browser "
       "com.heytap.browser com.vivo.browser com.android.chrome org.mozilla.firefox"),
    _e("Chrome", "google chrome|谷歌浏览器|chrome browser", "com.android.chrome com.chrome.beta"),
    _e("Email", "邮件|电子邮件|邮箱|電子郵件|mail",
       "com.google.android.gm com.android.email com.samsung.android.email.provider "
       "com.huawei.email com.kingsoft.email"),
    _e("Gmail", "google mail|谷歌邮箱", "com.google.android.gm"),
    _e("Play Store", "google play|play|谷歌商店|google play store|play 商店",
       "com.android.vending"),
    _e("App Store", "应用商店|应用市场|软件商店|app market|应用商城|galaxy store|app gallery|appgallery",
       "com.xiaomi.market com.huawei.appmarket com.hihonor.appmarket com.heytap.market "
       "com.oppo.market com.bbk.appstore com.sec.android.app.samsungapps com.android.vending"),
    _e("Security", "手机管家|安全中心|手机管理|phone manager|device care",
       "com.miui.securitycenter com.huawei.systemmanager com.coloros.safecenter "
       "com.iqoo.secure com.samsung.android.lool"),
    _e("Themes", "主题|主题商店|壁纸|wallpaper|wallpapers|theme store",
       "com.android.thememanager com.huawei.android.thememanager com.heytap.themestore "
       "com.bbk.theme com.samsung.android.themestore com.google.android.apps.wallpaper"),
    _e("Compass", "指南针", "com.miui.compass com.huawei.compass com.coloros.compass com.vivo.compass"),
    _e("Screen Recorder", "录屏|屏幕录制", "com.miui.screenrecorder com.huawei.screenrecorder"),
    _e("Scanner", "扫一扫|扫码|二维码", "com.xiaomi.scanner com.huawei.scanner"),
    _e("FM Radio", "收音机|radio", "com.miui.fm com.android.fmradio com.huawei.android.FMRadio"),
    _e("Health", "健康|运动健康|samsung health|huawei health",
       "com.huawei.health com.mi.health com.sec.android.app.shealth com.heytap.health"),
    _e("Downloads", "下载|下载管理", "com.android.providers.downloads.ui"),
    _e("Launcher", "主屏幕|桌面|home screen|launcher app",
       "com.android.launcher3 com.google.android.apps.nexuslauncher com.miui.home "
       "com.sec.android.app.launcher com.huawei.android.launcher com.hihonor.android.launcher"),
    # ---------------------------------------------------------------- Google
    _e("Google Maps", "maps|谷歌地图|google 地图|map", "com.google.android.apps.maps"),
    _e("YouTube", "油管|you tube", "com.google.android.youtube"),
    _e("YouTube Music", "yt music", "com.google.android.apps.youtube.music"),
    _e("Google", "google search|谷歌|google app", "com.google.android.googlequicksearchbox"),
    _e("Google Drive", "drive|谷歌云端硬盘", "com.google.android.apps.docs"),
    _e("Google Translate", "translate|谷歌翻译", "com.google.android.apps.translate"),
    _e("Google Meet", "meet", "com.google.android.apps.tachyon com.google.android.apps.meetings"),
    _e("Google Wallet", "wallet|google pay|gpay|钱包",
       "com.google.android.apps.walletnfcrel com.mipay.wallet com.huawei.wallet "
       "com.samsung.android.spay com.finshell.wallet"),
    _e("Gemini", "google gemini|bard", "com.google.android.apps.bard"),
    _e("Google Docs", "docs", "com.google.android.apps.docs.editors.docs"),
    _e("Google Sheets", "sheets", "com.google.android.apps.docs.editors.sheets"),
    # ---------------------------------------------------------------- international
    _e("WhatsApp", "whats app", "com.whatsapp com.whatsapp.w4b"),
    _e("Telegram", "电报|tg", "org.telegram.messenger org.telegram.messenger.web"),
    _e("Instagram", "ins|ig|照片墙", "com.instagram.android"),
    _e("Facebook", "fb|脸书", "com.facebook.katana com.facebook.lite"),
    _e("Messenger", "facebook messenger", "com.facebook.orca"),
    _e("X", "twitter|推特", "com.twitter.android"),
    _e("Threads", "", "com.instagram.barcelona"),
    _e("TikTok", "tik tok", "com.zhiliaoapp.musically com.ss.android.ugc.trill"),
    _e("Snapchat", "", "com.snapchat.android"),
    _e("Spotify", "", "com.spotify.music"),
    _e("Netflix", "奈飞|网飞", "com.netflix.mediaclient"),
    _e("Uber", "", "com.ubercab"),
    _e("Lyft", "", "me.lyft.android"),
    _e("Amazon", "亚马逊|amazon shopping", "com.amazon.mShop.android.shopping com.amazon.mShop.android"),
    _e("Reddit", "", "com.reddit.frontpage"),
    _e("LinkedIn", "领英", "com.linkedin.android"),
    _e("Discord", "", "com.discord"),
    _e("Zoom", "", "us.zoom.videomeetings"),
    _e("Slack", "", "com.Slack"),
    _e("Outlook", "microsoft outlook", "com.microsoft.office.outlook"),
    _e("Microsoft Teams", "teams", "com.microsoft.teams"),
    _e("Signal", "", "org.thoughtcrime.securesms"),
    _e("LINE", "", "jp.naver.line.android"),
    _e("Pinterest", "", "com.pinterest"),
    _e("Airbnb", "爱彼迎", "com.airbnb.android"),
    _e("Booking.com", "booking", "com.booking"),
    _e("Duolingo", "多邻国", "com.duolingo"),
    _e("PayPal", "", "com.paypal.android.p2pmobile"),
    _e("Firefox", "火狐|火狐浏览器|mozilla firefox", "org.mozilla.firefox"),
    _e("Microsoft Edge", "edge|edge浏览器", "com.microsoft.emmx"),
    _e("Waze", "", "com.waze"),
    _e("eBay", "", "com.ebay.mobile"),
    _e("Shazam", "", "com.shazam.android"),
    _e("ChatGPT", "openai", "com.openai.chatgpt"),
    _e("Temu", "", "com.einnovation.temu"),
    _e("SHEIN", "希音", "com.zzkko"),
    _e("AliExpress", "速卖通", "com.alibaba.aliexpresshd"),
    _e("Viber", "", "com.viber.voip"),
    _e("Skype", "", "com.skype.raider"),
    _e("Kindle", "", "com.amazon.kindle"),
    _e("Disney+", "disney plus|disney", "com.disney.disneyplus"),
    _e("Twitch", "", "tv.twitch.android.app"),
    _e("Microsoft Word", "word", "com.microsoft.office.word"),
    _e("Microsoft Excel", "excel", "com.microsoft.office.excel"),
    _e("Prime Video", "amazon prime video", "com.amazon.avod.thirdpartyclient"),
    _e("Tinder", "", "com.tinder"),
    # ---------------------------------------------------------------- China
    _e("WeChat", "微信|weixin|wx", "com.tencent.mm"),
    _e("QQ", "腾讯qq|tencent qq", "com.tencent.mobileqq com.tencent.tim"),
    _e("WeCom", "企业微信|wechat work|wework", "com.tencent.wework"),
    _e("Alipay", "支付宝|zhifubao", "com.eg.android.AlipayGphone"),
    _e("Taobao", "淘宝|手机淘宝", "com.taobao.taobao"),
    _e("Tmall", "天猫", "com.tmall.wireless"),
    _e("JD", "京东|jingdong|jd.com", "com.jingdong.app.mall"),
    _e("Pinduoduo", "拼多多|pdd", "com.xunmeng.pinduoduo"),
    _e("Meituan", "美团", "com.sankuai.meituan"),
    _e("Meituan Waimai", "美团外卖", "com.sankuai.meituan.takeoutnew com.sankuai.meituan"),
    _e("Dianping", "大众点评|点评", "com.dianping.v1"),
    _e("Ele.me", "饿了么|eleme", "me.ele"),
    _e("Douyin", "抖音", "com.ss.android.ugc.aweme com.ss.android.ugc.aweme.lite"),
    _e("Douyin Lite", "抖音极速版", "com.ss.android.ugc.aweme.lite"),
    _e("Kuaishou", "快手", "com.smile.gifmaker com.kuaishou.nebula"),
    _e("Kuaishou Lite", "快手极速版", "com.kuaishou.nebula"),
    _e("Bilibili", "哔哩哔哩|b站|bili", "tv.danmaku.bili com.bilibili.app.in"),
    _e("Xiaohongshu", "小红书|rednote|red", "com.xingin.xhs"),
    _e("Weibo", "微博|新浪微博|sina weibo", "com.sina.weibo"),
    _e("Zhihu", "知乎", "com.zhihu.android"),
    _e("Toutiao", "今日头条|头条", "com.ss.android.article.news"),
    _e("Baidu", "百度", "com.baidu.searchbox"),
    _e("Amap", "高德地图|高德|gaode|gaode map|autonavi", "com.autonavi.minimap"),
    _e("Baidu Maps", "百度地图", "com.baidu.BaiduMap"),
    _e("Tencent Maps", "腾讯地图", "com.tencent.map"),
    _e("Maps (China)", "地图|导航", "com.autonavi.minimap com.baidu.BaiduMap com.tencent.map "
       "com.google.android.apps.maps"),
    _e("DiDi", "滴滴|滴滴出行|didi chuxing", "com.sdu.didi.psnger"),
    _e("Ctrip", "携程|携程旅行|trip.com", "ctrip.android.view ctrip.english"),
    _e("12306", "铁路12306|china railway", "com.MobileTicket"),
    _e("Qunar", "去哪儿|去哪儿旅行", "com.Qunar"),
    _e("Fliggy", "飞猪|飞猪旅行", "com.taobao.trip"),
    _e("Tongcheng", "同程旅行|同程", "com.tongcheng.android"),
    _e("NetEase Cloud Music", "网易云音乐|网易云|netease music", "com.netease.cloudmusic"),
    _e("QQ Music", "qq音乐", "com.tencent.qqmusic"),
    _e("Kugou", "酷狗音乐|酷狗", "com.kugou.android"),
    _e("iQIYI", "爱奇艺", "com.qiyi.video"),
    _e("Tencent Video", "腾讯视频", "com.tencent.qqlive"),
    _e("Youku", "优酷|优酷视频", "com.youku.phone"),
    _e("Mango TV", "芒果tv|芒果", "com.hunantv.imgo.activity"),
    _e("DingTalk", "钉钉", "com.alibaba.android.rimet"),
    _e("Feishu", "飞书|lark", "com.ss.android.lark"),
    _e("Tencent Meeting", "腾讯会议|voov", "com.tencent.wemeet.app"),
    _e("Xianyu", "闲鱼|idle fish", "com.taobao.idlefish"),
    _e("Vipshop", "唯品会", "com.achievo.vipshop"),
    _e("Hema", "盒马|盒马鲜生", "com.wudaokou.hippo"),
    _e("Quark", "夸克|夸克浏览器", "com.quark.browser"),
    _e("UC Browser", "uc浏览器|uc", "com.UCMobile"),
    _e("QQ Browser", "qq浏览器", "com.tencent.mtt"),
    _e("WPS Office", "wps", "cn.wps.moffice_eng cn.wps.moffice_i18n"),
    _e("Baidu Netdisk", "百度网盘|百度云", "com.baidu.netdisk"),
    _e("Douban", "豆瓣", "com.douban.frodo"),
    _e("Ximalaya", "喜马拉雅", "com.ximalaya.ting.android"),
    _e("Dewu", "得物|poizon", "com.shizhuang.duapp"),
    _e("Keep", "keep健身", "com.gotokeep.keep"),
    _e("UnionPay", "云闪付", "com.unionpay"),
    _e("Doubao", "豆包", "com.larus.nova"),
    _e("Tongyi", "通义|通义千问|qwen", "com.aliyun.tongyi"),
    _e("Kimi", "kimi智能助手", "com.moonshot.kimichat"),
    _e("DeepSeek", "深度求索", "com.deepseek.chat"),
    _e("Yuanbao", "腾讯元宝|元宝", "com.tencent.hunyuan.app.chat"),
    _e("Fanqie Novel", "番茄小说|番茄免费小说", "com.dragon.read"),
    _e("Xigua Video", "西瓜视频", "com.ss.android.article.video"),
    _e("WeChat Read", "微信读书", "com.tencent.weread"),
    _e("Tencent News", "腾讯新闻", "com.tencent.news"),
    _e("NetEase News", "网易新闻", "com.netease.newsreader.activity"),
    _e("Umetrip", "航旅纵横", "com.umetrip.android.msky.app"),
    _e("Beike", "贝壳找房|贝壳", "com.lianjia.beike"),
    _e("BOSS Zhipin", "boss直聘|boss", "com.hpbr.bosszhipin"),
    _e("Maoyan", "猫眼|猫眼电影", "com.sankuai.movie"),
    _e("Dingdong", "叮咚买菜", "com.yaya.zone"),
    _e("Luckin Coffee", "瑞幸|瑞幸咖啡|luckin", "com.lucky.luckyclient"),
    _e("Starbucks", "星巴克", "com.starbucks.cn"),
    _e("KFC", "肯德基", "com.yek.android.kfc.activitys"),
    _e("McDonald's", "麦当劳|mcdonalds", "com.mcdonalds.gma.cn"),
    _e("China Mobile", "中国移动", "com.greenpoint.android.mc10086.activity"),
    _e("ICBC", "工商银行|中国工商银行", "com.icbc"),
    _e("CCB", "建设银行|中国建设银行", "com.chinamworld.main"),
    _e("China Merchants Bank", "招商银行|招行|cmb", "cmb.pb"),
)
# fmt: on

_PUNCT = re.compile(r"[\s\-_.·•'’\"&+/\\,:;!?()（）【】\[\]{}]+")
_SUFFIXES = ("app", "应用", "软件", "客户端", "application")
_PACKAGE_RE = re.compile(r"^[A-Za-z][\w]*(\.[A-Za-z_][\w]*)+$")
_COMPONENT_RE = re.compile(r"^(?P<pkg>[A-Za-z][\w]*(?:\.[A-Za-z_][\w]*)+)/(?P<act>[\w.$]+)$")
#: Shell control syntax never found in an app name: a query holding it is refused, not fuzzily
#: matched (``"Settings; reboot"`` must not open Settings as if the rest were noise).
_SHELL_SYNTAX = re.compile(r"[;|`<>\n\r\x00]|\$\(|&&")

#: Package-name tokens that say nothing about the app.
_GENERIC_WORDS = (
    "com org net cn io tv me jp us android google apps app mobile client activity main phone "
    "sec samsung miui xiaomi huawei hihonor honor coloros oplus oppo heytap oneplus vivo bbk "
    "tencent alibaba baidu netease ss launcher ui lite"
)
_GENERIC_TOKENS = frozenset(_GENERIC_WORDS.split())


def normalize_name(name: str) -> str:
    """Case-, width-, space- and punctuation-insensitive form of an app name."""
    s = unicodedata.normalize("NFKC", name).casefold().strip()
    return _PUNCT.sub("", s)


def _strip_suffix(norm: str) -> str:
    for suf in _SUFFIXES:
        if norm.endswith(suf) and len(norm) > len(suf):
            return norm[: -len(suf)]
    return norm


def _build_index(entries: Iterable[AppEntry]) -> dict[str, AppEntry]:
    index: dict[str, AppEntry] = {}
    for entry in entries:
        for n in entry.names:
            key = normalize_name(n)
            if key and key not in index:
                index[key] = entry
    return index


_INDEX = _build_index(REGISTRY)


def _build_package_names(entries: Iterable[AppEntry]) -> dict[str, list[str]]:
    """package -> the names of every entry listing it, the most specific entry first (fewest
    candidate packages, then the package's rank in it)."""
    found: dict[str, list[tuple[int, int, int, AppEntry]]] = {}
    for order, entry in enumerate(entries):
        for pos, pkg in enumerate(entry.packages):
            found.setdefault(pkg, []).append((len(entry.packages), pos, order, entry))
    names: dict[str, list[str]] = {}
    for pkg, items in found.items():
        items.sort(key=lambda t: t[:3])
        out: list[str] = []
        for *_, entry in items:
            out.extend(n for n in entry.names if n not in out)
        names[pkg] = out
    return names


_PACKAGE_NAMES = _build_package_names(REGISTRY)


def looks_like_package(name: str) -> bool:
    return bool(_PACKAGE_RE.match(name.strip()))


def registry_lookup(name: str) -> AppEntry | None:
    """The registry entry called ``name`` (normalized; a trailing "app"/"应用" is ignored)."""
    norm = normalize_name(name)
    if not norm:
        return None
    entry = _INDEX.get(norm)
    if entry is None:
        entry = _INDEX.get(_strip_suffix(norm))
    return entry


def registry_candidates(name: str) -> list[str]:
    """Candidate packages for a human name, most likely first (empty when unknown)."""
    entry = registry_lookup(name)
    return list(entry.packages) if entry else []


def names_for_package(package: str) -> list[str]:
    """Human names the registry knows for ``package`` (first is the display name)."""
    return list(_PACKAGE_NAMES.get(package, []))


def display_name(package: str) -> str:
    """A readable name for ``package``: the registry's English name, else the package itself."""
    names = _PACKAGE_NAMES.get(package)
    return names[0] if names else package


# --------------------------------------------------------------------------- parsing device output


def parse_package_list(output: str) -> list[str]:
    """Packages from ``pm list packages`` (``package:NAME`` lines; ``-f`` paths tolerated)."""
    pkgs: set[str] = set()
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("package:"):
            continue
        rest = line[len("package:") :].strip()
        if "=" in rest and ("/" in rest.split("=", 1)[0]):  # `pm list packages -f`: path=package
            rest = rest.rsplit("=", 1)[1]
        rest = rest.split()[0] if rest else ""
        if looks_like_package(rest):
            pkgs.add(rest)
    return sorted(pkgs)


_COMPONENT_LINE = re.compile(r"^\s*(?:name=)?(?P<comp>[A-Za-z][\w]*(?:\.[\w]+)+/[\w.$]+)\s*$")
_LABEL_LINE = re.compile(r"(?:^|\s)(?:nonLocalizedLabel|label)=(?P<label>.+?)(?=\s+\w+=|\s*$)")
_PACKAGE_FIELD = re.compile(r"^\s*packageName=(?P<pkg>[\w.]+)\s*$")
_NAME_FIELD = re.compile(r"^\s*name=(?P<name>[\w.$]+)\s*$")


@dataclass(frozen=True)
class LauncherEntry:
    package: str
    component: str
    label: str | None = None


def parse_launcher_activities(output: str) -> list[LauncherEntry]:
    """Launcher entries from ``cmd package query-activities`` (``--brief``/``--components`` or the
    full dump with ``packageName=``/``name=``/``nonLocalizedLabel=`` fields). One entry per
    package (the first activity listed); labels where the output carries them."""
    entries: dict[str, LauncherEntry] = {}
    order: list[str] = []

    def add(pkg: str, comp: str, label: str | None) -> None:
        if pkg in entries:
            if label and not entries[pkg].label:
                entries[pkg] = LauncherEntry(pkg, entries[pkg].component, label)
            return
        entries[pkg] = LauncherEntry(pkg, comp, label)
        order.append(pkg)

    # split into per-activity blocks so that a label belongs to its own activity
    blocks = re.split(r"^\s*Activity #\d+:\s*$", output, flags=re.M)
    for block in blocks:
        comp: str | None = None
        pkg_field: str | None = None
        name_field: str | None = None
        label: str | None = None
        for line in block.splitlines():
            if m := _COMPONENT_LINE.match(line):
                c = m.group("comp")
                if comp is None:
                    comp = c
                elif c != comp:  # several bare components in one block (--components output)
                    add(comp.split("/", 1)[0], comp, None)
                    comp = c
                continue
            if m := _LABEL_LINE.search(line):
                val = m.group("label").strip()
                if val and val != "null" and label is None:
                    label = val
                continue
            if m := _PACKAGE_FIELD.match(line):
                pkg_field = pkg_field or m.group("pkg")
                continue
            if (m := _NAME_FIELD.match(line)) and name_field is None:
                name_field = m.group("name")
        if comp is None and pkg_field and name_field:
            comp = f"{pkg_field}/{name_field}"
        if comp:
            add(comp.split("/", 1)[0], comp, label)
    return [entries[p] for p in order]


# --------------------------------------------------------------------------- fuzzy matching


def _tokens(package: str, component: str | None = None) -> list[str]:
    """Meaningful lower-case tokens of a package name (and of its activity's class name)."""
    raw = package.split(".")
    if component and "/" in component:
        act = component.split("/", 1)[1].rsplit(".", 1)[-1].replace("$", "")
        act = re.sub(r"(Activity|Launcher|Main|Home)$", "", act)
        raw.extend(re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", act))
    out: list[str] = []
    for t in raw:
        t = re.sub(r"\d+$", "", t.lower())
        if len(t) >= 2 and t not in _GENERIC_TOKENS and t not in out:
            out.append(t)
    return out


def _similarity(query: str, target: str) -> float:
    """Score in [0, 1] of how well the normalized ``query`` names the normalized ``target``."""
    if not query or not target:
        return 0.0
    if query == target:
        return 1.0
    if len(query) >= 3 and target.startswith(query):
        return 0.9 + 0.05 * len(query) / len(target)
    if len(target) >= 4 and query.startswith(target):
        return 0.8
    ratio = difflib.SequenceMatcher(None, query, target).ratio()
    if len(query) >= 4 and query in target:
        ratio = max(ratio, 0.8)
    return ratio


@dataclass(frozen=True)
class Candidate:
    package: str
    score: float
    why: str


def rank_candidates(
    query: str,
    packages: Iterable[str],
    *,
    labels: Mapping[str, str] | None = None,
    components: Mapping[str, str] | None = None,
) -> list[Candidate]:
    """Score each package against ``query`` (by device label, registry names, name tokens);
    best first."""
    q = _strip_suffix(normalize_name(query))
    if not q:
        return []
    labels = labels or {}
    components = components or {}
    out: list[Candidate] = []
    for pkg in packages:
        best = 0.0
        why = ""
        label = labels.get(pkg)
        if label:
            s = _similarity(q, normalize_name(label))
            if s > best:
                best, why = s, f"label {label!r}"
        for name in names_for_package(pkg):
            s = _similarity(q, normalize_name(name)) - 0.01  # device labels win ties
            if s > best:
                best, why = s, f"known as {name!r}"
        toks = _tokens(pkg, components.get(pkg))
        for t in toks:
            s = _similarity(q, t) - 0.02
            if s > best:
                best, why = s, f"package token {t!r}"
        if len(toks) > 1:
            s = _similarity(q, "".join(toks)) - 0.02
            if s > best:
                best, why = s, "package name"
        if best > 0:
            out.append(Candidate(pkg, round(best, 4), why))
    out.sort(key=lambda c: (-c.score, c.package))
    return out


MATCH_THRESHOLD = 0.75
#: Two candidates closer than this are ambiguous (unless the best one is an exact match).
AMBIGUITY_MARGIN = 0.03
#: Scores at or above this are exact matches of a label, a registry name or a package token.
EXACT_SCORE = 0.97


@dataclass(frozen=True)
class Resolution:
    package: str
    component: str | None
    how: str


def reject_shell_syntax(query: str) -> None:
    """Raise ``AppNotFoundError`` when ``query`` holds shell control syntax (``;``, ``&&``, ``|``,
    backticks, ``$(``, redirections, line breaks), which no app name contains."""
    if m := _SHELL_SYNTAX.search(query.strip()):
        raise AppNotFoundError(
            f"{query!r} is not an app name: it contains shell syntax ({m.group()!r})",
            hint="name one app, e.g. 'Settings' or 'com.android.settings'",
        )


def resolve_app(
    query: str,
    installed: Sequence[str],
    launcher: Sequence[LauncherEntry] = (),
    *,
    serial: str = "the device",
) -> Resolution:
    """Resolve ``query`` to an installed package (see the module docstring for the order)."""
    q = query.strip()
    if not q:
        raise AppNotFoundError(
            "no app name given", hint="name an app, e.g. 'Settings' or 'com.android.settings'"
        )
    reject_shell_syntax(q)
    installed_set = set(installed)
    launch_map = {e.package: e for e in launcher}

    def comp_of(pkg: str) -> str | None:
        e = launch_map.get(pkg)
        return e.component if e else None

    # 1. an exact package or component
    if (m := _COMPONENT_RE.match(q)) and m.group("pkg") in installed_set:
        return Resolution(m.group("pkg"), q, "component")
    if q in installed_set:
        return Resolution(q, comp_of(q), "package")
    if looks_like_package(q):
        lower = {p.lower(): p for p in installed_set}
        if q.lower() in lower:
            pkg = lower[q.lower()]
            return Resolution(pkg, comp_of(pkg), "package")

    # 2. the registry
    entry = registry_lookup(q)
    if entry:
        for pkg in entry.packages:
            if pkg in installed_set:
                return Resolution(pkg, comp_of(pkg), f"registry ({entry.name})")

    # 3. the device's launcher entries (all installed packages when the launcher list is unknown)
    pool = [e.package for e in launcher] if launcher else list(installed)
    labels = {e.package: e.label for e in launcher if e.label}
    comps = {e.package: e.component for e in launcher}
    ranked = rank_candidates(q, pool, labels=labels, components=comps)
    good = [c for c in ranked if c.score >= MATCH_THRESHOLD]
    if good:
        best = good[0]
        rivals = [c for c in good[1:] if best.score - c.score < AMBIGUITY_MARGIN]
        exact = best.score >= EXACT_SCORE and all(c.score < EXACT_SCORE for c in rivals)
        if not rivals or exact:
            return Resolution(best.package, comp_of(best.package), f"fuzzy ({best.why})")
        names = ", ".join(_describe(c.package, labels) for c in [best, *rivals][:5])
        raise AppNotFoundError(
            f"{query!r} is ambiguous on {serial}: it could be {names}",
            hint="launch it by package name",
        )

    close = [c for c in ranked if c.score >= 0.45][:5]
    parts = [f"no installed app matches {query!r} on {serial}"]
    if entry:
        parts.append(f"{entry.name} ({', '.join(entry.packages[:3])}) is not installed")
    msg = "; ".join(parts)
    hint = (
        "close candidates: " + ", ".join(_describe(c.package, labels) for c in close)
        if close
        else "use a package name from `installed_packages()`"
    )
    raise AppNotFoundError(msg, hint=hint)


def _describe(package: str, labels: Mapping[str, str]) -> str:
    label = labels.get(package) or (names_for_package(package) or [None])[0]
    return f"{label} ({package})" if label else package
