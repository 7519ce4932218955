"""Every issue code: its severity, what is wrong and how to fix it, in Vietnamese.

One registry for reading (`R-…`) and validation (`V-…`, warnings `W-…`); `core.model.issue`
builds an issue from it. Templates use the keys given to `issue()`; `{where}` is filled in as
"Trang tính 'X', ô E12" when the issue has a cell, else "Tệp". docs/errors.md lists every code.
"""

from __future__ import annotations

from typing import Literal

Severity = Literal["error", "warning"]
IssueSpec = tuple[Severity, str, str]

# Reading: code -> (severity, what is wrong, how to fix).
READ_ISSUES: dict[str, IssueSpec] = {
    "R-FILE-FORMAT": (
        "error",
        "Tệp '{file}' không phải dạng báo cáo đọc được (đuôi '{ext}'): ảnh chụp, PDF, tệp Word "
        "cũ (.doc) hay tệp nén .rar/.7z không cho lấy ra số liệu.",
        "Gửi lại báo cáo bằng tệp .xlsx theo mẫu của xã; cũng nhận .xlsm, .xls, .ods, .csv, "
        ".tsv, .txt (Unicode Text của Excel), .docx có bảng số liệu, hoặc tệp .zip chứa các "
        "tệp đó.",
    ),
    "R-FILE-PASSWORD": (
        "error",
        "Tệp '{file}' được đặt mật khẩu nên không mở được.",
        "Mở tệp, gỡ mật khẩu (Excel: Tệp > Thông tin > Bảo vệ sổ làm việc > Mã hoá bằng mật "
        "khẩu, xoá mật khẩu; tệp nén: nén lại không đặt mật khẩu), lưu rồi gửi lại; không gửi "
        "mật khẩu qua thư.",
    ),
    "R-FILE-ARCHIVE-NESTED": (
        "error",
        "Tệp '{file}' là tệp nén nằm trong một tệp nén khác; chỉ đọc một lớp nén.",
        "Giải nén tệp bên trong, hoặc gửi thẳng các tệp báo cáo (hoặc một tệp .zip chứa chúng).",
    ),
    "R-FILE-ARCHIVE-EMPTY": (
        "error",
        "Tệp nén '{file}' không chứa tệp báo cáo nào.",
        "Kiểm tra lại tệp nén: cho các tệp báo cáo (.xlsx, .xls, .ods, .csv, .docx…) vào rồi "
        "gửi lại.",
    ),
    "R-FILE-ARCHIVE-TOO-MANY": (
        "error",
        "Tệp nén '{file}' chứa quá nhiều tệp ({count} tệp, tối đa {limit}).",
        "Chia thành nhiều tệp nén nhỏ hơn, mỗi tệp tối đa {limit} tệp báo cáo.",
    ),
    "R-FILE-CORRUPT": (
        "error",
        "Không mở được tệp '{file}': tệp bị hỏng hoặc không phải bảng tính ({detail}).",
        "Mở tệp bằng Excel để kiểm tra, lưu lại thành .xlsx rồi gửi lại.",
    ),
    "R-FILE-TOO-BIG": (
        "error",
        "Tệp '{file}' quá lớn ({size} byte, tối đa {limit} byte).",
        "Chỉ gửi bảng báo cáo theo mẫu, bỏ ảnh và các trang tính không cần thiết.",
    ),
    "R-FILE-UNPACKED-TOO-BIG": (
        "error",
        "Tệp '{file}' khi giải nén phình ra quá lớn ({detail}); tệp bị từ chối để bảo vệ hệ thống.",
        "Lưu lại báo cáo từ mẫu của xã thành tệp .xlsx mới rồi gửi lại.",
    ),
    "R-FILE-TOO-MANY-CELLS": (
        "error",
        "Trang tính '{sheet}' của tệp '{file}' khai báo quá nhiều ô ({cells} ô, tối đa {limit}).",
        "Xoá các hàng, cột thừa ở cuối trang tính (hoặc chép bảng sang tệp mẫu mới) rồi gửi lại.",
    ),
    "R-FILE-UNSAFE": (
        "error",
        "Tệp '{file}' có cấu trúc không an toàn ({detail}); tệp bị từ chối.",
        "Mở tệp bằng Excel, lưu thành tệp .xlsx mới rồi gửi lại.",
    ),
    "R-FILE-TIMEOUT": (
        "error",
        "Đọc tệp '{file}' quá {seconds} giây nên đã dừng.",
        "Xoá các trang tính, hàng, cột thừa; lưu lại thành .xlsx theo mẫu rồi gửi lại.",
    ),
    "R-FILE-CRASH": (
        "error",
        "Đọc tệp '{file}' làm hỏng chương trình đọc (thường do tệp khai báo quá nhiều ô hoặc "
        "dùng quá nhiều bộ nhớ).",
        "Chép bảng số liệu sang tệp mẫu mới của xã rồi gửi lại.",
    ),
    "R-FILE-ENCODING": (
        "error",
        "Không đọc được bảng mã chữ của tệp văn bản '{file}'.",
        "Lưu tệp CSV với bảng mã UTF-8 (CSV UTF-8) hoặc gửi tệp .xlsx.",
    ),
    "R-FILE-ENCODING-LEGACY": (
        "error",
        "Tệp văn bản '{file}' dùng bảng mã {name} cũ, không chuyển sang Unicode chắc chắn được.",
        "Chuyển mã tệp sang Unicode (ví dụ công cụ chuyển mã của Unikey, từ {name} sang "
        "Unicode) hoặc mở bằng Excel và lưu thành .xlsx, rồi gửi lại.",
    ),
    "R-FILE-REFUSED": (
        "error",
        "Tệp '{file}' {detail} nên không được đọc.",
        "Gửi lại báo cáo bằng một tệp bảng tính thật (không phải lối tắt hay liên kết) "
        "đặt ngay trong thư mục nhận báo cáo.",
    ),
    "R-TABLE-NOT-FOUND": (
        "error",
        "Không tìm thấy bảng số liệu nào trong tệp '{file}' (cần dòng tiêu đề có cột "
        "'Mã chỉ tiêu' hoặc 'Tình trạng').",
        "Dùng mẫu của xã và giữ nguyên dòng tiêu đề của bảng.",
    ),
    "R-COLUMN-UNKNOWN": (
        "warning",
        "{where}: cột '{header}' không thuộc mẫu nên được bỏ qua.",
        "Nếu đây là số liệu cần báo cáo, hãy ghi vào cột đúng của mẫu.",
    ),
    "R-COLUMN-DUPLICATE": (
        "warning",
        "{where}: cột '{header}' xuất hiện hai lần; chỉ đọc cột đầu tiên ({first}).",
        "Xoá cột trùng.",
    ),
    "R-COLUMN-MISSING": (
        "error",
        "{where}: bảng thiếu cột '{header}'.",
        "Thêm lại cột '{header}' theo mẫu của xã.",
    ),
    "R-UNIT-MISSING": (
        "error",
        "Không xác định được mã đơn vị của tệp '{file}'.",
        "Ghi mã đơn vị vào ô bên cạnh 'Mã đơn vị' (hoặc đặt tên tệp <MÃ ĐƠN VỊ>_<KỲ>.xlsx).",
    ),
    "R-UNIT-CONFLICT": (
        "error",
        "Mã đơn vị không thống nhất: {first} ghi '{a}', còn {second} ghi '{b}'.",
        "Sửa cho cùng một mã đơn vị (đúng đơn vị gửi báo cáo) rồi gửi lại.",
    ),
    "R-UNIT-TEMPLATE": (
        "error",
        "{where}: mã đơn vị ghi '{typed}', nhưng tệp này là mẫu xã lập cho đơn vị {template}.",
        "Ghi lại '{template}' vào ô này; nếu báo cáo cho đơn vị {typed}, dùng mẫu của đơn vị đó.",
    ),
    "R-PERIOD-MISSING": (
        "error",
        "Không xác định được kỳ báo cáo của tệp '{file}'.",
        "Ghi kỳ báo cáo vào ô bên cạnh 'Kỳ báo cáo', ví dụ 2026Q3 hoặc 'Quý III/2026'.",
    ),
    "R-PERIOD-INVALID": (
        "error",
        "{where}: không hiểu kỳ báo cáo '{value}'.",
        "Ghi kỳ báo cáo dạng 2026Q3, 'Quý III/2026', 'Quý 3 năm 2026', 2026S1, 202607 hoặc 2026.",
    ),
    "R-PERIOD-CONFLICT": (
        "error",
        "Kỳ báo cáo không thống nhất: {first} ghi '{a}', còn {second} ghi '{b}'.",
        "Sửa cho cùng một kỳ báo cáo rồi gửi lại.",
    ),
    "R-PERIOD-TEMPLATE": (
        "error",
        "{where}: kỳ báo cáo ghi '{typed}', nhưng tệp này là mẫu xã lập cho kỳ {template}.",
        "Ghi lại '{template}' vào ô này; nếu báo cáo cho kỳ {typed}, dùng mẫu kỳ {typed} của xã.",
    ),
    "R-UNIT-NAME-UNKNOWN": (
        "error",
        "{where}: tên đơn vị '{value}' ({source}) không có trong danh sách đơn vị của xã; các "
        "đơn vị có tên gần giống: {candidates}.",
        "Ghi mã đơn vị vào ô bên cạnh 'Mã đơn vị' (ví dụ THON-01), hoặc ghi đúng tên đơn vị như "
        "trong danh sách của xã.",
    ),
    "R-UNIT-NAME-AMBIGUOUS": (
        "error",
        "{where}: tên đơn vị '{value}' ({source}) ứng với nhiều đơn vị: {candidates}.",
        "Ghi mã đơn vị vào ô bên cạnh 'Mã đơn vị' để chỉ rõ là đơn vị nào.",
    ),
    "R-PERIOD-RANGE": (
        "error",
        "{where}: khoảng thời gian '{value}' không trùng với kỳ báo cáo nào; các kỳ gần nhất: "
        "{close}.",
        "Ghi kỳ báo cáo dạng 2026Q3 hoặc 'Quý III/2026', hoặc sửa ngày cho khớp trọn một kỳ.",
    ),
    "R-ELEMENT-NAME-UNKNOWN": (
        "error",
        "{where}: dòng không có mã chỉ tiêu, và tên chỉ tiêu '{value}' không có trong danh mục; "
        "các chỉ tiêu có tên gần giống: {candidates}.",
        "Ghi mã chỉ tiêu của dòng (ví dụ 1.1.1), hoặc chép đúng tên chỉ tiêu từ tệp mẫu.",
    ),
    "R-ELEMENT-NAME-AMBIGUOUS": (
        "error",
        "{where}: dòng không có mã chỉ tiêu, và tên chỉ tiêu '{value}' ứng với nhiều chỉ tiêu: "
        "{candidates}.",
        "Ghi mã chỉ tiêu của dòng để chỉ rõ là chỉ tiêu nào.",
    ),
    "R-VALUE-READ-PAST-UNIT": (
        "warning",
        "{where}: ô giá trị ghi '{value}' (có cả đơn vị tính); đã đọc là {read}.",
        "Lần sau chỉ ghi con số ({read}) vào ô 'Giá trị'; đơn vị tính đã có ở cột 'Đơn vị tính'.",
    ),
    "R-MERGE-HIDES-VALUE": (
        "error",
        "{where}: ô này nằm trong vùng ô gộp bắt đầu từ ô {first} nên giá trị '{value}' của nó bị "
        "che, không đọc được.",
        "Bỏ gộp vùng ô đó (Merge & Center → Unmerge Cells) để mỗi giá trị nằm trong ô riêng, "
        "rồi gửi lại.",
    ),
    "R-VALUE-NOT-NUMBER": (
        "error",
        "{where}: giá trị '{value}' không phải là số.",
        "Chỉ ghi con số (ví dụ 12 hoặc 1.234,5); để trống nếu chưa có số liệu; "
        "ghi giải thích vào cột 'Ghi chú'.",
    ),
    "R-VALUE-DATE": (
        "error",
        "{where}: ô giá trị đang ở dạng ngày tháng ({value}).",
        "Định dạng ô là Number (Số) rồi gõ lại con số.",
    ),
    "R-FORMULA-NO-VALUE": (
        "error",
        "{where}: ô có công thức nhưng không có kết quả đã tính.",
        "Mở tệp bằng Excel, để Excel tính lại công thức (hoặc gõ thẳng con số), lưu rồi gửi lại.",
    ),
    "R-CELL-ERROR": (
        "error",
        "{where}: ô báo lỗi công thức '{value}'.",
        "Sửa công thức hoặc gõ thẳng con số rồi gửi lại.",
    ),
    "R-CODE-DATE": (
        "error",
        "{where}: mã '{label}' đã bị Excel đổi thành ngày tháng ({value}).",
        "Định dạng ô là Text (Văn bản) rồi gõ lại mã, ví dụ 1.2 (hoặc gõ '1.2).",
    ),
    "R-CODE-NUMBER": (
        "error",
        "{where}: mã '{label}' đã bị Excel đổi thành số ({value}), không khôi phục được.",
        "Định dạng ô là Text (Văn bản) rồi gõ lại mã đúng như mẫu, ví dụ 1.10 hoặc 1.1.1.",
    ),
    "R-CODE-MISSING": (
        "error",
        "{where}: dòng có giá trị nhưng không có mã chỉ tiêu.",
        "Ghi mã chỉ tiêu của dòng theo mẫu (ví dụ 1.1.1).",
    ),
    "R-VALUE-INEXACT": (
        "error",
        "{where}: không đọc được chính xác giá trị của ô ({detail}).",
        "Mở tệp bằng Excel, gõ lại con số vào ô (định dạng Number), lưu thành .xlsx rồi gửi lại.",
    ),
    "R-VALUE-TOO-BIG": (
        "error",
        "{where}: giá trị '{value}' lớn bất thường (quá {limit} về độ lớn), không thể là số liệu "
        "báo cáo của xã.",
        "Kiểm tra và gõ lại đúng con số; để trống nếu chưa có số liệu.",
    ),
    "R-VALIDATE-FAILED": (
        "error",
        "Không kiểm tra được tệp '{file}' ({detail}).",
        "Chép bảng số liệu sang tệp mẫu mới của xã, lưu thành .xlsx rồi gửi lại.",
    ),
    "R-FEEDBACK-FAILED": (
        "warning",
        "Không lập được tệp phản hồi cho tệp '{file}' ({detail}).",
        "Xem danh sách lỗi của tệp trong báo cáo tổng hợp của xã, hoặc liên hệ cán bộ tổng hợp.",
    ),
    "R-LOAD-FAILED": (
        "error",
        "Không lưu được tệp '{file}' vào kho dữ liệu ({detail}).",
        "Lưu báo cáo thành tệp .xlsx mới theo mẫu của xã, đặt tên ngắn rồi gửi lại.",
    ),
}

# Issues that mean the file itself could not be read; everything else concerns its content.
UNREADABLE_CODES = frozenset(code for code in READ_ISSUES if code.startswith("R-FILE-"))


_STATUS_CHOICE = "Chọn một trong: Chưa triển khai, Đang triển khai, Hoàn thành."

# Validation: code -> (severity, what is wrong, how to fix). A rule's code is
# `V-RULE-<rule code>` (V-RULE-QT-5.3).
VALIDATION_ISSUES: dict[str, IssueSpec] = {
    # What is missing is owed, not wrong: the values sent are kept and completeness shows the
    # rest as still to come.
    "W-VALUES-MISSING": (
        "warning",
        "Tệp không có bảng số liệu chỉ tiêu (bảng có cột 'Mã chỉ tiêu' hoặc 'Tên chỉ tiêu' và "
        "'Giá trị'); số liệu chỉ tiêu kỳ {period} vẫn còn thiếu.",
        "Gửi bổ sung số liệu chỉ tiêu trên trang tính 'Chỉ tiêu' của tệp mẫu kỳ {period} (gửi lại "
        "cả tệp, gồm cả phần tiến độ).",
    ),
    "W-ELEMENTS-MISSING": (
        "warning",
        "Tệp chưa có số liệu của {count} chỉ tiêu đơn vị phải báo cáo kỳ {period}: {elements}.",
        "Nếu đã có số liệu, ghi vào cột 'Giá trị' của các chỉ tiêu trên rồi gửi lại cả tệp; nếu "
        "trong kỳ không phát sinh thì ghi 0; nếu chưa có số liệu thì để trống và ghi lý do vào cột "
        "'Ghi chú'.",
    ),
    "W-PROGRESS-MISSING": (
        "warning",
        "Tệp không có bảng tiến độ nhiệm vụ (bảng có cột 'Mã nhiệm vụ' và 'Tình trạng'); báo cáo "
        "tiến độ kỳ {period} vẫn còn thiếu.",
        "Gửi bổ sung tiến độ các nhiệm vụ trên trang tính 'Tiến độ' của tệp mẫu kỳ {period} (gửi "
        "lại cả tệp, gồm cả số liệu chỉ tiêu).",
    ),
    "V-COLUMN-MISSING": (
        "error",
        "{where}: bảng ở trang tính '{sheet}' thiếu cột '{header}'.",
        "Thêm lại cột '{header}' theo mẫu của xã (chép dòng tiêu đề từ tệp mẫu).",
    ),
    "V-UNIT-UNKNOWN": (
        "error",
        "{where}: mã đơn vị '{unit}' không có trong danh sách đơn vị của xã.",
        "Ghi đúng mã đơn vị như trong tệp mẫu xã đã gửi (ví dụ THON-01) rồi gửi lại.",
    ),
    "V-UNIT-INACTIVE": (
        "error",
        "{where}: đơn vị '{unit}' đã thôi báo cáo trong danh sách đơn vị của xã.",
        "Nếu ghi nhầm mã, sửa lại mã đơn vị; nếu đơn vị vẫn phải báo cáo, báo cán bộ tổng hợp "
        "của xã cập nhật danh sách.",
    ),
    "V-PERIOD-FORMAT": (
        "error",
        "{where}: kỳ báo cáo '{period}' không đúng dạng.",
        "Ghi kỳ báo cáo dạng 2026Q3 (quý), 2026S1 (nửa năm), 202607 (tháng) hoặc 2026 (năm).",
    ),
    "V-PERIOD-PLAN": (
        "error",
        "{where}: kỳ báo cáo {period} nằm ngoài kế hoạch {plan_start}-{plan_end}.",
        "Sửa lại năm của kỳ báo cáo: kế hoạch chỉ nhận số liệu từ năm {plan_start} đến năm "
        "{plan_end}.",
    ),
    "V-PERIOD-FUTURE": (
        "error",
        "{where}: kỳ báo cáo {period} chưa bắt đầu (bắt đầu ngày {start}, hôm nay là {today}).",
        "Sửa lại kỳ báo cáo cho đúng kỳ đã qua hoặc đang diễn ra.",
    ),
    "V-TASK-UNKNOWN": (
        "error",
        "{where}: mã nhiệm vụ '{task}' không có trong kế hoạch.",
        "Ghi đúng mã nhiệm vụ như trong tệp mẫu (từ 1.1 đến 7.2), ví dụ 5.3.",
    ),
    "V-TASK-TIMEFRAME": (
        "error",
        "{where}: nhiệm vụ {task} chỉ thực hiện trong các năm {start}-{end}, không báo cáo cho "
        "kỳ {period}.",
        "Xoá số liệu của nhiệm vụ {task} khỏi báo cáo kỳ này, hoặc sửa lại kỳ báo cáo.",
    ),
    "V-ELEMENT-UNKNOWN": (
        "error",
        "{where}: mã chỉ tiêu '{element}' không có trong danh mục chỉ tiêu.",
        "Ghi đúng mã chỉ tiêu như trong tệp mẫu, ví dụ 1.1.1; không tự thêm chỉ tiêu mới.",
    ),
    "V-ELEMENT-TASK": (
        "error",
        "{where}: chỉ tiêu {element} thuộc nhiệm vụ {element_task}, không thuộc nhiệm vụ {task} "
        "ghi cùng dòng.",
        "Sửa mã nhiệm vụ của dòng thành {element_task}, hoặc sửa lại mã chỉ tiêu cho đúng.",
    ),
    "V-ELEMENT-DUPLICATE": (
        "error",
        "{where}: chỉ tiêu {element} đã được ghi ở ô {first}; mỗi chỉ tiêu chỉ ghi một dòng.",
        "Xoá dòng trùng, chỉ để lại một dòng với số liệu đúng (cộng gộp lại nếu cần).",
    ),
    "V-VALUE-NEGATIVE": (
        "error",
        "{where}: giá trị {value} của chỉ tiêu {element} là số âm.",
        "Ghi số từ 0 trở lên; nếu chưa có số liệu thì để trống và ghi lý do vào cột 'Ghi chú'.",
    ),
    "V-VALUE-WHOLE": (
        "error",
        "{where}: chỉ tiêu {element} ({measure}) phải là số nguyên nhưng đang ghi {value}.",
        "Ghi số nguyên, không có phần thập phân (ví dụ 12).",
    ),
    "V-MONEY-DONG": (
        "error",
        "{where}: kinh phí {value} triệu đồng của chỉ tiêu {element} lớn bất thường (trên "
        "{limit} triệu đồng); có lẽ số đã ghi theo đồng chứ không phải triệu đồng.",
        "Đổi số sang triệu đồng: chia cho 1.000.000 (ví dụ 150.000.000 đồng ghi là 150).",
    ),
    "V-COUNT-LIMIT": (
        "error",
        "{where}: giá trị {value} của chỉ tiêu {element} ({measure}) lớn bất thường (trên "
        "{count_limit}); số liệu của một xã không thể lớn như vậy.",
        "Kiểm tra và gõ lại đúng con số (có thể thừa chữ số hoặc gõ nhầm cột).",
    ),
    "V-STATUS-INVALID": (
        "error",
        "{where}: tình trạng '{status}' của nhiệm vụ {task} không thuộc danh sách cho phép.",
        _STATUS_CHOICE,
    ),
    "V-STATUS-MISSING": (
        "error",
        "{where}: nhiệm vụ {task} chưa ghi tình trạng.",
        _STATUS_CHOICE,
    ),
    "V-RULE": (
        "error",
        "{where}: {rule_message}: chỉ tiêu {left} (ô {left_cell}) là {left_value}, lớn hơn chỉ "
        "tiêu {right} (ô {right_cell}) là {right_value}.",
        "Kiểm tra lại hai số liệu trên và sửa số bị ghi sai.",
    ),
    "W-NOT-RESPONSIBLE": (
        "warning",
        "{where}: đơn vị {unit} không được giao chủ trì hay phối hợp nhiệm vụ {task}; số liệu "
        "vẫn được nhận nhưng chỉ để tham khảo.",
        "Nếu ghi nhầm dòng, chuyển số liệu sang đúng nhiệm vụ; nếu đơn vị thực sự có tham gia "
        "nhiệm vụ này thì không cần sửa.",
    ),
    "W-OUTLIER": (
        "warning",
        "{where}: giá trị {value} của chỉ tiêu {element} khác xa các kỳ trước của đơn vị "
        "(thường từ {low} đến {high}, ở giữa là {median}).",
        "Kiểm tra lại con số; nếu đúng thì ghi lý do vào cột 'Ghi chú'.",
    ),
}

# Codes whose finding points at the unit or period label rather than a table cell.
UNIT_CODES = frozenset({"V-UNIT-UNKNOWN", "V-UNIT-INACTIVE"})
PERIOD_CODES = frozenset({"V-PERIOD-FORMAT", "V-PERIOD-PLAN", "V-PERIOD-FUTURE"})


# The one registry: every code, reading and validation alike.
ISSUES: dict[str, IssueSpec] = {**READ_ISSUES, **VALIDATION_ISSUES}


def spec(code: str) -> IssueSpec:
    """Severity, message template and fix of any reading or validation code.

    A rule's code is `V-RULE-<rule code>` and shares the template of `V-RULE`.

    Raises:
        KeyError: the code is in neither registry.
    """
    return ISSUES["V-RULE" if code.startswith("V-RULE-") else code]
